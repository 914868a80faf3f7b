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
  std::string shard;  // "I/N": run one shard, write DIR/shard.json (kllens merge joins them)
  bool resume = false, no_prefix_reuse = false, include_head = false;
  double teacher_cache_mb = 4096;
  BackendOption backend;  // backend.name: one device or a list ("cpu,vulkan", "vulkan:0,vulkan:1")
};
// The devices of --backend, one BackendOption each ("vulkan:N" sets the device index).
std::vector<BackendOption> sweep_backends(const SweepArgs& a);
// A sweep report from DIR/sensitivity.json, or from the paper's layout (--paper BITS=FILE,
// one per bit width); with `model`, the layer shapes come from its weights (needed for
// sizes) and log V from its config for the plausibility warnings, printed to stderr.
SensitivityReport load_report(const std::string& dir, const std::vector<std::string>& paper,
                              const std::string& model);
void add_paper_option(CLI::App* cmd, std::vector<std::string>& paper);
// Adds the sweep's options; `calib_required`: --calib or --calib-ids must be given.
void add_sweep_options(CLI::App* cmd, SweepArgs& a, bool with_model_and_out);
// Loads the model and calibration, runs the sweep with a progress bar, writes
// DIR/sensitivity.{json,csv} (DIR/shard.json with --shard); returns false when
// --max-probes stopped it early.
// `be` is the first device of sweep_backends(a); run_sweep makes the others.
bool run_sweep(const SweepArgs& a, Backend& be, SensitivityReport& out);
// The sweep `a` again after a device fault stopped it (run_with_cpu_fallback): on the CPU
// alone, keeping the probes it saved (--resume; the fingerprint is the same).
SweepArgs after_device_fault(const SweepArgs& a);
// run_sweep's pieces, shared with `kllens robustness`: the SweepOptions of the arguments (all
// but the perplexity tokens, out_dir = a.out, no fingerprint or progress), the --resume
// fingerprint of a sweep over `ids` ([windows, T]) with perplexity on `ppl_tokens`, and the
// parameters outside the probed layers (kept F16 in plans).
SweepOptions sweep_options(const SweepArgs& a);
std::string sweep_fingerprint(const SweepArgs& a, int64_t windows, int64_t T, const std::vector<int32_t>& ids,
                              const std::vector<int32_t>& ppl_tokens, int64_t vocab);
int64_t other_params(const std::string& model_dir, const std::vector<LayerInfo>& layers);

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
