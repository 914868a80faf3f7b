// Pieces the lens subcommands share (sensitivity, rank, allocate, evaluate, lens): the
// sweep's options and runner, a progress bar with ETA, and small formatting helpers.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <string>

#include "common.h"
#include "kllens/lens.h"

namespace kllens::cli {

// Options of `kllens sensitivity` (also taken by `kllens lens`).
struct SweepArgs {
  std::string model, calib, calib_ids, out;
  int64_t samples = 64, seqlen = 512, max_probes = -1, ppl_tokens = 0, ppl_ctx = 256;
  uint64_t seed = 1234;
  std::string bits = "4,8", group = "channel", layers, ppl_text;
  bool resume = false, no_prefix_reuse = false, include_head = false;
  double teacher_cache_mb = 4096;
  BackendOption backend;
};
// Adds the sweep's options; `calib_required`: --calib or --calib-ids must be given.
void add_sweep_options(CLI::App* cmd, SweepArgs& a, bool with_model_and_out);
// Loads the model and calibration, runs the sweep with a progress bar, writes
// DIR/sensitivity.{json,csv}; returns false when --max-probes stopped it early.
bool run_sweep(const SweepArgs& a, Backend& be, SensitivityReport& out);

// "\r<label> [#####.....] k/n  12.3%  elapsed 1m02s  eta 3m10s  <what>" on stderr when it is a
// terminal, otherwise one line per step.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), t0_(std::chrono::steady_clock::now()) {}
  void update(int64_t done, int64_t total, const std::string& what, int64_t skipped = 0);

 private:
  std::string label_;
  std::chrono::steady_clock::time_point t0_;
};

std::string format_duration(double seconds);
std::vector<int> parse_bits(const std::string& list);

}  // namespace kllens::cli
