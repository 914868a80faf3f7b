// The kllens command line end to end: results against the fixtures, and the bad-input
// table (each case: one-line error naming the file, non-zero exit, no partial output).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "kllens/io.h"
#include "kllens/safetensors.h"
#include "support/cli.h"
#include "support/compare.h"
#include "support/reference.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;

// No output file and no temporary left beside it.
void expect_no_output(const std::string& dir, const std::string& out) {
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

// ---- safetensors header surgery -----------------------------------------------------

struct Checkpoint {
  nlohmann::json header;
  std::string data;
};

Checkpoint read_checkpoint(const std::string& path) {
  const std::string bytes = read_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  return {nlohmann::json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  std::string h = c.header.dump();
  while (h.size() % 8) h += ' ';
  const uint64_t n = h.size();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << h << c.data;
}

// A copy of tiny-mamba whose checkpoint header was changed by `edit`.
std::string model_with_header(const std::function<void(nlohmann::json&)>& edit) {
  const std::string dir = scratch_dir() + "/model";
  copy_model("tiny-mamba", dir);
  Checkpoint c = read_checkpoint(dir + "/model.safetensors");
  edit(c.header);
  write_checkpoint(dir + "/model.safetensors", c);
  return dir;
}

CliResult logits_of(const std::string& model, const std::string& out) {
  return run_cli("logits " + model + " --ids 1,2,3 --out " + out);
}

// ---- results ------------------------------------------------------------------------

TEST(Cli, LogitsMatchReference) {
  Reference ref("tiny-mamba");
  const std::string out = scratch_dir() + "/logits.safetensors";
  const CliResult r = run_cli("logits " + ref.model_dir() + " --ids-file " + ref.model_dir() +
                              "/reference.safetensors --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  auto file = SafetensorsFile::open(out);
  const TensorInfo& t = file->tensors().at("logits");
  ASSERT_EQ(t.shape, ref.shape("logits"));
  std::vector<float> got(t.bytes / 4);
  std::memcpy(got.data(), t.data, t.bytes);
  EXPECT_TRUE(close(ref.f32("logits"), got, t.shape, 1e-9, 1e-3));
}

TEST(Cli, GenerateReproducesGreedyIds) {
  Reference ref("tiny-mamba");
  const std::string prompt = fmt::format("{}", fmt::join(ref.i32("greedy_prompt"), ","));
  const std::string want = fmt::format("{}", fmt::join(ref.i32("greedy_ids"), ","));
  const CliResult r = run_cli("generate " + ref.model_dir() + " --prompt-ids " + prompt +
                              " -n 16 --ignore-eos --print-ids");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("ids [" + want + "]"), std::string::npos) << r.err;
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* cmd : {"info", "logits", "tokenize", "perplexity", "generate", "synth", "bench"}) {
    const CliResult r = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(Cli, InfoCountsParameters) {
  const CliResult r = run_cli("info " + shared_path("fixtures/tiny-mamba"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("mamba"), std::string::npos);
  EXPECT_NE(r.out.find("backbone.layers.7.mixer.out_proj.weight"), std::string::npos);
}

TEST(Cli, TokenizeAndDecodeRoundTrip) {
  const std::string dir = scratch_dir();
  write_file_atomic(dir + "/t.txt", "The jury said, \"it's fine.\"\n");
  const std::string model = shared_path("fixtures/tiny-mamba");
  const CliResult ids = run_cli("tokenize " + model + " --text " + dir + "/t.txt");
  ASSERT_EQ(ids.status, 0) << ids.err;
  write_file_atomic(dir + "/ids.json", ids.out);
  const CliResult text = run_cli("tokenize " + model + " --text " + dir + "/ids.json --decode");
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_EQ(text.out, "The jury said, \"it's fine.\"\n");
}

// ---- bad input ----------------------------------------------------------------------

TEST(CliBadInput, TruncatedSafetensors) {
  const std::string dir = scratch_dir() + "/model";
  copy_model("tiny-mamba", dir);
  fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") / 2);
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of(dir, out), "model.safetensors");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, HeaderOffsetsPastTheEnd) {
  const std::string dir = model_with_header([](nlohmann::json& h) {
    h["backbone.norm_f.weight"]["data_offsets"][1] = 1ull << 40;
  });
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of(dir, out), "backbone.norm_f.weight");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, OverlappingTensors) {
  const std::string dir = model_with_header([](nlohmann::json& h) {
    h["backbone.layers.1.norm.weight"]["data_offsets"] = h["backbone.layers.0.norm.weight"]["data_offsets"];
  });
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of(dir, out), "overlap");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, WrongDtypeString) {
  const std::string dir = model_with_header([](nlohmann::json& h) {
    h["backbone.norm_f.weight"]["dtype"] = "F33";
  });
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of(dir, out), "F33");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, TensorMissing) {
  const std::string dir = model_with_header([](nlohmann::json& h) {
    h["renamed.norm_f.weight"] = h["backbone.norm_f.weight"];
    h.erase("backbone.norm_f.weight");
  });
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of(dir, out), "backbone.norm_f.weight");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, ShapeDisagreesWithConfig) {
  const std::string dir = scratch_dir() + "/model";
  copy_model("tiny-mamba", dir);
  auto cfg = nlohmann::json::parse(read_file(dir + "/config.json"));
  cfg["state_size"] = 8;
  write_file_atomic(dir + "/config.json", cfg.dump());
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of(dir, out), "config.json");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, UnknownArchitecture) {
  const std::string dir = scratch_dir() + "/model";
  copy_model("tiny-mamba", dir);
  auto cfg = nlohmann::json::parse(read_file(dir + "/config.json"));
  cfg["model_type"] = "rwkv";
  cfg["architectures"] = {"RwkvForCausalLM"};
  write_file_atomic(dir + "/config.json", cfg.dump());
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of(dir, out), "config.json");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, MalformedTokenizerJson) {
  const std::string dir = scratch_dir() + "/model";
  copy_model("tiny-mamba", dir);
  fs::resize_file(dir + "/tokenizer.json", 1000);
  write_file_atomic(dir + "/t.txt", "hello");
  expect_one_line_error(run_cli("tokenize " + dir + " --text " + dir + "/t.txt"), "tokenizer.json");
}

TEST(CliBadInput, EmptyText) {
  const std::string dir = scratch_dir();
  write_file_atomic(dir + "/empty.txt", "");
  expect_one_line_error(
      run_cli("perplexity " + shared_path("fixtures/tiny-mamba") + " --text " + dir + "/empty.txt"),
      "empty.txt");
}

TEST(CliBadInput, PromptLongerThanTheContext) {
  expect_one_line_error(run_cli("generate " + shared_path("fixtures/tiny-mamba") +
                                " --prompt 'one two three four five six seven' --ctx 4"),
                        "context");
}

TEST(CliBadInput, TokenIdOutsideTheVocabulary) {
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(run_cli("logits " + shared_path("fixtures/tiny-mamba") + " --ids 1,99999 --out " + out),
                        "99999");
  expect_no_output(fs::path(out).parent_path(), out);
}

TEST(CliBadInput, MissingModelFolder) {
  const std::string out = scratch_dir() + "/x.safetensors";
  expect_one_line_error(logits_of("/nonexistent/model", out), "/nonexistent/model");
}

}  // namespace
}  // namespace kllens::test
