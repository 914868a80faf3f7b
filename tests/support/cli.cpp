// Running the kllens binary from tests.
#include "support/cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/compare.h"

namespace kllens::test {

namespace fs = std::filesystem;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "global";
  static int counter = 0;
  const fs::path dir = fs::path(::testing::TempDir()) /
                       ("kllens-" + std::to_string(getpid()) + "-" + name + "-" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

CliResult run_cli(const std::string& args) {
  const std::string dir = scratch_dir();
  const std::string cmd = std::string(KLLENS_CLI_PATH) + " " + args + " >" + dir + "/out 2>" + dir + "/err";
  CliResult r;
  const int raw = std::system(cmd.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128;
  r.out = slurp(dir + "/out");
  r.err = slurp(dir + "/err");
  fs::remove_all(dir);
  return r;
}

void copy_model(const std::string& fixture, const std::string& dir) {
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    const fs::path src = fs::path(shared_path("fixtures/" + fixture)) / f;
    if (fs::exists(src)) {
      fs::copy_file(src, fs::path(dir) / f, fs::copy_options::overwrite_existing);
      fs::permissions(fs::path(dir) / f, fs::perms::owner_read | fs::perms::owner_write);
    }
  }
}

void expect_one_line_error(const CliResult& r, const std::string& needle) {
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.err.rfind("kllens: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
}

}  // namespace kllens::test
