// The results of `kllens bench` and their four spellings: a Markdown table shaped like
// llama-bench's (model | size | params | backend | threads | test | t/s, then kllens's
// bandwidth columns), CSV, JSON and JSON lines with llama-bench's field names where it
// has one (model_filename, model_size, model_n_params, n_threads, n_prompt, n_gen,
// avg_ts, stddev_ts, samples_ts, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kllens::cli {

struct BenchResult {
  std::string model;        // the folder's name (+ " + plan NAME" with --plan)
  std::string model_path, plan;
  uint64_t model_bytes = 0; // the weights as loaded, every tensor once
  // The bytes a decode step reads: model_bytes, less the embedding table but one row when
  // the head is its own tensor (the embedding is then only gathered, a row per token).
  uint64_t stream_bytes = 0;
  int64_t params = 0;
  std::string backend;      // "cpu" or "vulkan"
  std::string device, driver;
  int threads = 0;
  std::string test;         // "pp512", "tg128"
  int64_t n_prompt = 0, n_gen = 0;
  std::vector<double> seconds;  // per repetition
  double read_bw_gbps = 0;  // host memory-read bandwidth, measured once in the same run
  std::string decode_steps; // tg: "replayed" or "direct"
  // The process's resident memory right after the test's repetitions, this model loaded
  // (earlier models are freed); 0 where /proc/self/statm cannot be read.
  uint64_t resident_bytes = 0;

  int64_t tokens() const { return n_prompt + n_gen; }
  double mean_ts() const;
  double stddev_ts() const;  // sample standard deviation (n − 1), 0 for one repetition
  // tg only (a decode step streams every weight it reads once): stream bytes × tokens/s,
  // and that as a fraction of read_bw_gbps. NaN for pp.
  double gbps() const;
  double read_bw_fraction() const { return gbps() / read_bw_gbps; }
  nlohmann::ordered_json to_json() const;
};

std::string bench_markdown(const std::vector<BenchResult>& rows);
std::string bench_csv(const std::vector<BenchResult>& rows);
std::string bench_json(const std::vector<BenchResult>& rows);   // one array
std::string bench_jsonl(const std::vector<BenchResult>& rows);  // one object per line

}  // namespace kllens::cli
