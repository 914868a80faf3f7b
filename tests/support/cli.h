// Running the kllens binary from tests, and per-test scratch directories.
#pragma once

#include <string>

namespace kllens::test {

struct CliResult {
  int status = -1;     // exit status
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs `kllens <args>` (args are passed to the shell as written).
CliResult run_cli(const std::string& args);

// A fresh, empty directory, new on every call, named after the running test.
std::string scratch_dir();

// The error contract: a non-zero exit and exactly one line on stderr that starts
// "kllens: " and contains `needle`.
void expect_one_line_error(const CliResult& r, const std::string& needle);

// Copies a fixture model folder (config, weights, tokenizer) into `dir`.
void copy_model(const std::string& fixture, const std::string& dir);

}  // namespace kllens::test
