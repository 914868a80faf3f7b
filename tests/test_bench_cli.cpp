// kllens bench as llama-bench's peer: several models and backends in one run, and every
// output format parses into the same rows (models × backends × tests, in that order),
// with mean ± stdev over the repetitions, sizes, bandwidth, device and threads. Short
// runs (-p 8 -n 2 -r 2) on the tiny fixtures: the numbers are not judged, only their
// shape and consistency. About 15 s (Vulkan on lavapipe with validation).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kllens/io.h"
#include "support/cli.h"
#include "support/compare.h"
#include "support/vulkan_pair.h"

namespace kllens::test {
namespace {

const std::string kArgs = " -p 8 -n 2 -r 2";

std::string two_models() { return shared_path("fixtures/tiny-mamba") + "," + shared_path("fixtures/tiny-mamba2"); }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

// One CSV line of quoted cells (llama-bench's spelling: the header bare, every value quoted;
// no commas or quotes inside our values).
std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells;
  for (const std::string& c : split(line, ',')) {
    EXPECT_GE(c.size(), 2u) << line;
    EXPECT_EQ(c.front(), '"');
    EXPECT_EQ(c.back(), '"');
    cells.push_back(c.substr(1, c.size() - 2));
  }
  return cells;
}

void expect_row(const nlohmann::ordered_json& r, const std::string& backend, const std::string& test) {
  EXPECT_EQ(r.at("backends"), backend);
  EXPECT_EQ(r.at("test"), test);
  EXPECT_EQ(r.at("samples_ts").size(), 2u);
  EXPECT_GT(r.at("avg_ts").get<double>(), 0);
  EXPECT_GE(r.at("stddev_ts").get<double>(), 0);
  EXPECT_GT(r.at("model_size").get<int64_t>(), 0);
  EXPECT_GT(r.at("model_n_params").get<int64_t>(), 0);
  EXPECT_GT(r.at("n_threads").get<int>(), 0);
  EXPECT_GT(r.at("read_bandwidth_gbps").get<double>(), 0);
  EXPECT_FALSE(r.at("gpu_info").get<std::string>().empty());
  EXPECT_FALSE(r.at("driver").get<std::string>().empty());
  // Mean of the samples, and the bandwidth columns only for tg (bytes × tokens/s).
  const auto& s = r.at("samples_ts");
  EXPECT_NEAR(r.at("avg_ts").get<double>(), (s[0].get<double>() + s[1].get<double>()) / 2, 1e-6 * r.at("avg_ts").get<double>());
  // Every weight has just been read, so the process holds at least the model's bytes.
  EXPECT_GE(r.at("resident_bytes").get<double>(), r.at("model_size").get<double>());
  if (test.starts_with("tg"))
    EXPECT_NEAR(r.at("weight_stream_gbps").get<double>(),
                r.at("decode_stream_bytes").get<double>() * r.at("avg_ts").get<double>() / 1e9, 1e-9);
  else
    EXPECT_TRUE(r.at("weight_stream_gbps").is_null());
}

TEST(BenchCli, JsonCsvJsonlAndMarkdownAgree) {
  const CliResult json = run_cli("bench -m " + two_models() + kArgs + " -o json");
  ASSERT_EQ(json.status, 0) << json.err;
  const auto rows = nlohmann::ordered_json::parse(json.out);
  ASSERT_EQ(rows.size(), 4u);  // 2 models × (pp8, tg2)
  for (size_t i = 0; i < 4; ++i) expect_row(rows[i], "cpu", i % 2 ? "tg2" : "pp8");
  EXPECT_EQ(rows[0].at("model_type"), "tiny-mamba");
  EXPECT_EQ(rows[2].at("model_type"), "tiny-mamba2");

  const CliResult jsonl = run_cli("bench -m " + two_models() + kArgs + " -o jsonl");
  ASSERT_EQ(jsonl.status, 0) << jsonl.err;
  const auto lines = split(jsonl.out, '\n');
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const auto r = nlohmann::ordered_json::parse(lines[i]);
    expect_row(r, "cpu", i % 2 ? "tg2" : "pp8");
    EXPECT_EQ(r.at("model_size"), rows[i].at("model_size"));
  }

  const CliResult csv = run_cli("bench -m " + two_models() + kArgs + " -o csv");
  ASSERT_EQ(csv.status, 0) << csv.err;
  const auto csv_lines = split(csv.out, '\n');
  ASSERT_EQ(csv_lines.size(), 5u);
  const auto head = split(csv_lines[0], ',');
  std::vector<std::string> keys;
  for (const auto& [k, v] : rows[0].items()) keys.push_back(k);
  EXPECT_EQ(head, keys);  // the JSON fields, in order
  for (size_t i = 1; i < 5; ++i) {
    const auto cells = csv_cells(csv_lines[i]);
    ASSERT_EQ(cells.size(), head.size());
    const auto col = [&](const std::string& k) { return cells[size_t(std::find(head.begin(), head.end(), k) - head.begin())]; };
    EXPECT_EQ(col("test"), i % 2 ? "pp8" : "tg2");
    EXPECT_EQ(col("model_size"), rows[i - 1].at("model_size").dump());
    EXPECT_EQ(split(col("samples_ts"), ' ').size(), 2u);
  }

  const CliResult md = run_cli("bench -m " + two_models() + kArgs);
  ASSERT_EQ(md.status, 0) << md.err;
  const auto md_lines = split(md.out, '\n');
  ASSERT_GE(md_lines.size(), 6u);
  EXPECT_EQ(md_lines[0].rfind("| model", 0), 0u) << md.out;
  EXPECT_NE(md_lines[0].find(" t/s |"), std::string::npos) << md.out;
  EXPECT_NE(md_lines[0].find(" resident |"), std::string::npos) << md.out;
  EXPECT_NE(md_lines[1].find("---:"), std::string::npos) << md.out;
  for (size_t i = 2; i < 6; ++i) {
    EXPECT_NE(md_lines[i].find(" ± "), std::string::npos) << md_lines[i];
    EXPECT_NE(md_lines[i].find(i % 2 ? "tg2" : "pp8"), std::string::npos) << md_lines[i];
  }
  EXPECT_NE(md.out.find("host memory-read bandwidth (same run)"), std::string::npos) << md.out;
}

TEST(BenchCli, CpuAndVulkanInOneRun) {
  REQUIRE_VULKAN();
  ::setenv("KLLENS_VULKAN_VALIDATION", "1", 1);
  const CliResult r = run_cli("bench -m " + shared_path("fixtures/tiny-mamba") + " --backend cpu,vulkan" + kArgs + " -o json");
  ::unsetenv("KLLENS_VULKAN_VALIDATION");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = nlohmann::ordered_json::parse(r.out);
  ASSERT_EQ(rows.size(), 4u);
  expect_row(rows[0], "cpu", "pp8");
  expect_row(rows[1], "cpu", "tg2");
  expect_row(rows[2], "vulkan", "pp8");
  expect_row(rows[3], "vulkan", "tg2");
  EXPECT_EQ(rows[2].at("model_size"), rows[0].at("model_size"));
  EXPECT_EQ(rows[3].at("decode_steps"), "replayed");
}

// The decode stream: a tied head reads the whole embedding, so the stream is the model's
// size; a head of its own (quantize --head) leaves the F16 embedding [V, H] to the gather,
// which reads one row per token. tiny-mamba's embedding is F32 [4096, 128].
TEST(BenchCli, DecodeStreamCountsTheEmbeddingOnlyWhenTheHeadReadsIt) {
  const std::string tied = shared_path("fixtures/tiny-mamba"), untied = scratch_dir() + "/q4h8";
  ASSERT_EQ(run_cli("quantize " + tied + " --type q4 --head q8 -o " + untied).status, 0);
  const CliResult r = run_cli("bench -m " + tied + "," + untied + " -p 0 -n 2 -r 1 -o json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = nlohmann::ordered_json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("decode_stream_bytes"), rows[0].at("model_size"));
  const auto cfg = nlohmann::json::parse(kllens::read_file(untied + "/config.json"));
  ASSERT_FALSE(cfg.at("tie_word_embeddings").get<bool>());
  const int64_t V = cfg.at("vocab_size"), H = cfg.at("hidden_size");
  // tiny-mamba's embedding is F32, and quantize keeps it as it is.
  EXPECT_EQ(rows[1].at("model_size").get<int64_t>() - rows[1].at("decode_stream_bytes").get<int64_t>(), (V - 1) * 4 * H);
}

TEST(BenchCli, BadOptions) {
  const std::string m = shared_path("fixtures/tiny-mamba");
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"bench -m " + m + " -o xml", "-o xml"},
           {"bench -m " + m + " --backend cpu,metal", "--backend metal"},
           {"bench", "give a model"},
           {"bench -m " + m + ",/nonexistent/model", "/nonexistent/model"}}) {
    const CliResult r = run_cli(args + " -p 4 -n 1 -r 1");
    EXPECT_NE(r.status, 0) << args;
    EXPECT_EQ(r.err.rfind("kllens: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
}

// --profile on the CPU: after each model's tests, the wall time per op kind per decode
// token on stderr. tiny-mamba has 8 layers: one ssm_scan, one conv1d_causal and four
// matmuls per layer, one head matmul per token (a tied F32 head [V, 128]).
TEST(BenchCli, CpuProfileCountsOpsPerDecodeToken) {
  const CliResult r = run_cli("bench " + shared_path("fixtures/tiny-mamba") + " -p 8 -n 3 -r 2 --profile");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("tg3"), std::string::npos) << r.out;
  ASSERT_NE(r.err.find("cpu op profile, tiny-mamba: 6 decode tokens"), std::string::npos) << r.err;
  const auto calls = [&](const std::string& op) {  // calls/token of the row that starts with op
    const size_t at = r.err.find("\n  " + op + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(r.err.substr(at + 3 + op.size()));
  };
  EXPECT_EQ(calls("ssm_scan"), 8.0) << r.err;
  EXPECT_EQ(calls("conv1d_causal"), 8.0) << r.err;
  EXPECT_EQ(calls("embed"), 1.0) << r.err;
  EXPECT_NE(r.err.find("outside ops"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("empty OpenMP parallel region"), std::string::npos) << r.err;
  const CliResult plain = run_cli("bench " + shared_path("fixtures/tiny-mamba") + " -p 0 -n 2 -r 1");
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(plain.err.find("op profile"), std::string::npos) << plain.err;
}

}  // namespace
}  // namespace kllens::test
