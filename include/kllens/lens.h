// The KL lens: the per-layer sensitivity sweep and its report (docs/lens.md).
//
// Sweep: one teacher pass over the calibration windows caches the residual stream entering
// every block a probe restarts from, and the teacher's logits; then for every linear layer
// and bit width, only that layer is quantised (src/quant), the forward pass restarts at
// its block (Model::forward_from), the student's logits are compared with the teacher's
// on the device (Backend::kl_reduce), and the layer is restored.
//
// Metrics follow fixtures/README.md: per window, then averaged over windows:
//   kl_teacher_to_student = mean_t KL(p‖q), kl_student_to_teacher = mean_t KL(q‖p),
//   mse = Σ_t,v (zs − zt)² / (T·V), sqnr_db = 10·log10(Σ zt² / Σ (zt − zs)²),
//   delta_cross_entropy = mean over positions 0..T-2 of CE_student − CE_teacher on the next
//   token, top1_agreement = fraction of positions whose argmax agrees; nats per token.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kllens/model.h"
#include "kllens/quant.h"

namespace kllens {

struct ProbeMetrics {
  double kl_teacher_to_student = 0, kl_student_to_teacher = 0, mse = 0, sqnr_db = 0;
  double delta_cross_entropy = 0, top1_agreement = 0;
  double perplexity = NAN;  // NaN when the sweep measures no perplexity
};

// Window-averaged metrics from kl_reduce rows: stats F32 [windows·T, kKlStats] with the
// windows one after another; V = vocabulary size. Accumulated in fp64.
ProbeMetrics metrics_from_stats(const float* stats, int64_t windows, int64_t T, int64_t V);
// The standard error of each window-averaged metric: sd over windows / √windows (sample
// sd, n − 1); NaN with one window; perplexity always NaN.
ProbeMetrics metrics_stderr_from_stats(const float* stats, int64_t windows, int64_t T, int64_t V);

// One finished probe.
struct Probe {
  std::string layer;
  int64_t block = 0;
  int bits = 8;
  ProbeMetrics m;
  ProbeMetrics se;  // standard error over the calibration windows (NaN when unknown)
  std::string backend;  // the device that ran it (Backend::name())
  double seconds = 0;  // wall time (kept out of sensitivity.json, which must not vary)
  bool resumed = false;  // loaded from a previous run's probe file
  std::string key() const { return layer + "@" + std::to_string(bits); }
};

struct LayerInfo {
  std::string name;
  int64_t block = 0, out_features = 0, in_features = 0;
};

struct SweepOptions {
  std::vector<int> bits{4, 8};
  int group = 0;                  // 0 = per output channel; 32/64/128
  std::string layers_regex;       // empty = every linear layer (std::regex_search on the name)
  bool prefix_reuse = true;       // false: a full forward per probe (--no-prefix-reuse)
  bool include_head = false;      // probe the output head lm_head too (--include-head)
  std::vector<int32_t> ppl_tokens;  // non-empty: perplexity of every probe on these tokens
  int64_t ppl_ctx = 256;
  std::string out_dir;            // probes saved in out_dir/probes/<layer>@<bits>.json
  bool resume = false;            // keep probes already saved (their fingerprint must match)
  int64_t max_probes = -1;        // stop after this many new probes (tests of --resume)
  double teacher_cache_mb = 4096; // teacher logits kept when they fit, else recomputed
  std::string fingerprint;        // identifies model + calibration + options for --resume
  int shard_index = 0, shard_count = 1;  // run only the probes shard_owners() gives this shard
  std::function<void(int64_t done, int64_t total, const Probe&)> progress;
  // A sweep over several devices: called (never concurrently) with one line when a worker's
  // Vulkan device fails (VulkanDeviceError) and its probes go to the other workers.
  std::function<void(const std::string& line)> notice;
};

struct SensitivityReport {
  std::string model;
  int64_t windows = 0, seqlen = 0, vocab = 0;
  int group = 0;
  std::vector<int> bits;
  std::vector<LayerInfo> layers;
  std::vector<Probe> probes;      // layer-major, bits in option order
  double teacher_perplexity = NAN;
  int64_t other_params = 0;       // parameters outside the probed layers (kept F16 in plans)
  bool complete = true;           // false when max_probes stopped the sweep

  const Probe* find(const std::string& layer, int bits) const;
  // sensitivity.json: {"model", "calibration", "group", "bits", "teacher", "layers",
  //  "<bits>": {layer: {perplexity, sqnr_db, kl_teacher_to_student, kl_student_to_teacher,
  //  delta_cross_entropy, mse, top1_agreement}}}  (perplexity null when not measured)
  nlohmann::ordered_json to_json() const;
  static SensitivityReport from_json(const nlohmann::ordered_json& j);
  std::string to_csv() const;
  static SensitivityReport load(const std::string& dir);  // DIR/sensitivity.json
};

// Calibration windows ids [windows·seqlen] (row-major [windows, seqlen]).
SensitivityReport run_sensitivity(Model& model, const std::string& model_name,
                                  const std::vector<int32_t>& ids, int64_t windows,
                                  int64_t seqlen, const SweepOptions& opt);
// The same sweep over several devices: one copy of the model per device (each on its own
// backend), one worker each with its own teacher pass, all pulling probes from one queue
// (oneTBB; src/lens/sweep_queue.cpp). Each probe records the backend that ran it.
SensitivityReport run_sensitivity(const std::vector<Model*>& models, const std::string& model_name,
                                  const std::vector<int32_t>& ids, int64_t windows,
                                  int64_t seqlen, const SweepOptions& opt);

// Writes DIR/sensitivity.json and DIR/sensitivity.csv atomically.
void write_sensitivity(const SensitivityReport& r, const std::string& dir);

// ---- resume fingerprint (src/lens/fingerprint.cpp) --------------------------------------
// xxHash (XXH3, 64 bits) of every tensor of a model folder (name, dtype, shape and bytes,
// in name order): a weight changed in place changes the sweep's fingerprint.
uint64_t weights_content_hash(const std::string& model_dir);
// XXH3 of token ids (their int32 bytes), chained on `seed`.
uint64_t ids_content_hash(const std::vector<int32_t>& ids, uint64_t seed = 0);
// XXH3 of a string, as 16 hex digits (the probe files' own checksum).
std::string checksum_hex(std::string_view bytes);
// One saved probe (DIR/probes/<layer>@<bits>.json); refuses a malformed file and one whose
// checksum does not match its contents (src/lens/sensitivity.cpp).
Probe read_probe_file(const std::string& path);
// The same over the file's text (read_probe_file reads and calls it; so does the fuzz
// target); `path` names it in errors.
Probe parse_probe_file(std::string_view text, const std::string& path);
// The fingerprint saved in DIR/probes/sweep.json, from the file's text; refuses anything
// but {"fingerprint": "..."} with `path` named.
std::string parse_sweep_fingerprint(std::string_view text, const std::string& path);

// `samples` windows of `seqlen` tokens chosen without overlap from `tokens` with `seed`
// (in text order); fewer when the text is short (at least one; throws if not even one).
std::vector<int32_t> sample_windows(const std::vector<int32_t>& tokens, int64_t samples,
                                    int64_t seqlen, uint64_t seed, int64_t& windows);

// ---- shards (src/lens/shard.cpp) ------------------------------------------------------
// A sweep split over machines: shard I of N runs the probes shard_owners() assigns to I
// and writes DIR/shard.json; merge_shards() checks that the shards share one sweep and
// backend, are disjoint and complete, and rebuilds the report a single run writes.
//
// Cost of a probe, in block passes over the calibration tokens: the blocks it recomputes
// (from its restart block to the last) plus one for the head, plus (L + 1) passes scaled
// by ppl_tokens / calibration tokens when it also measures perplexity. Assignment is the
// longest-processing-time rule: probes by cost descending (ties: report order), each to
// the shard with the least cost so far (ties: the lowest index). Deterministic.
struct ShardSpec {
  int index = 0, count = 1;
  static ShardSpec parse(const std::string& text);  // "I/N", 0 <= I < N
};
std::vector<int> shard_owners(const std::vector<double>& costs, int count);
// DIR/shard.json: {"fingerprint", "backend", "shard", "shards", "report": <to_json()>}.
void write_shard(const SensitivityReport& r, const std::string& fingerprint,
                 const std::string& backend, const ShardSpec& shard, const std::string& dir);
// The merged report of DIR/shard.json in every dir (complete, probes in report order).
SensitivityReport merge_shards(const std::vector<std::string>& dirs);

// ---- the paper's layout (src/lens/paper.cpp) ------------------------------------------
// Reads results written by the paper's scripts: one JSON file per bit width, {layer:
// {perplexity, sqnr_db, kl_teacher_to_student, kl_student_to_teacher, delta_cross_entropy}}
// (also mse, top1_agreement when present); `files` = (bits, path). Layer shapes are
// unknown (0) and the block is read from ".layers.N." in the name.
SensitivityReport read_paper_results(const std::vector<std::pair<int, std::string>>& files);
// Warnings for values that cannot be a KL divergence (negative, or above log V when
// vocab > 1): the paper's kl_teacher_to_student is computed from probabilities where
// log-probabilities are expected, so it is a score, not a KL.
std::vector<std::string> paper_warnings(const SensitivityReport& r, int64_t vocab);

// ---- rank (src/lens/rank.cpp) ----------------------------------------------------------
// Rank agreement between a metric and perplexity over the layers of one bit width.
// τ-a = S / (n(n−1)/2), τ-b = S / √((n0 − n1)(n0 − n2)) with S = Σ_{i<j} sign(Δx)·sign(Δy),
// n0 = n(n−1)/2 and n1, n2 the tied pairs of x and y; its p-value from the normal
// approximation of S with the tie-corrected variance (Kendall 1970; scipy's "asymptotic").
// Spearman ρ = Pearson correlation of the average ranks; p-value from Student's t with
// n − 2 degrees of freedom, t = ρ·√((n − 2)/(1 − ρ²)). Two-sided p-values.
struct Interval {
  double lo = NAN, hi = NAN;
  bool excludes_zero() const { return std::isfinite(lo) && std::isfinite(hi) && (lo > 0 || hi < 0); }
};
struct RankStats {
  int64_t n = 0;
  double tau_a = NAN, tau_b = NAN, tau_p = NAN, rho = NAN, rho_p = NAN;
  Interval tau_b_ci, rho_ci;  // bootstrap 95% (bootstrap_rank_table), NaN until computed
};
RankStats rank_stats(const std::vector<double>& x, const std::vector<double>& y);

// The metrics the lens ranks, in report order, and how they are oriented: SQNR and top-1
// agreement are negated so that +1 always means "orders layers exactly by damage".
struct MetricInfo { const char* name; bool negate; };
const std::vector<MetricInfo>& lens_metrics();  // kl_teacher_to_student, ... top1_agreement
double metric_value(const ProbeMetrics& m, const std::string& name);  // un-negated

// The paired question: is KL's τ-b higher than another metric's? diff = τ-b(KL) − τ-b(other).
struct TauDifference {
  std::string other;
  double diff = NAN;
  Interval ci;  // bootstrap 95% of the paired difference
};
struct RankTable {
  int bits = 8;
  int64_t n = 0;
  std::vector<std::pair<std::string, RankStats>> rows;  // one per metric
  std::vector<TauDifference> tau_diff;  // kl_teacher_to_student against every other metric
};
// Bootstrap over layers (src/lens/bootstrap.cpp): `resamples` draws of n layers with
// replacement from std::mt19937_64(seed ^ bits-dependent constant), shared by all metrics.
struct BootstrapOptions {
  int resamples = 2000;
  uint64_t seed = 1234;
};
// Fills tau_b_ci / rho_ci of every row and tau_diff; metric_values[k] = row k's oriented
// values, ppl the perplexities, both per layer.
void bootstrap_rank_table(RankTable& t, const std::vector<std::vector<double>>& metric_values,
                          const std::vector<double>& ppl, const BootstrapOptions& opt);
// One table per bit width of the report (needs perplexity in every probe), with bootstrap
// intervals. A metric missing (non-finite) in any probe of a bit width is left out of it.
std::vector<RankTable> rank_report(const SensitivityReport& r, const BootstrapOptions& opt = {});
// The verdict in words (report.md opens with it): per bit width, the metric with the
// highest τ-b, whether it is significant (p < 0.05 and its interval above 0) and whether it
// beats KL / KL beats the others (paired intervals); when no metric is significant, says
// so and what would resolve it. `eval_tokens`: perplexity tokens (0 = unknown).
std::string rank_verdict(const std::vector<RankTable>& t, int64_t eval_tokens);
nlohmann::ordered_json rank_json(const std::vector<RankTable>& t);
std::string rank_text(const std::vector<RankTable>& t);  // the printed table

// Restores a layer's weight when it goes out of scope (a probe swaps one in).
class WeightSwap {
 public:
  WeightSwap(Weight* slot, Weight replacement) : slot_(slot), saved_(*slot) {
    *slot_ = std::move(replacement);
  }
  ~WeightSwap() { *slot_ = saved_; }
  WeightSwap(const WeightSwap&) = delete;
  WeightSwap& operator=(const WeightSwap&) = delete;

 private:
  Weight* slot_;  // borrowed from the model
  Weight saved_;
};

// ---- allocate (src/lens/allocate.cpp) -------------------------------------------------
// A mixed-precision plan: every probed linear layer → F16 (no spec) or a QuantSpec.
// Sizes are nominal (quant.h weight_bytes); everything outside the layers counts as F16.
struct Plan {
  std::string name, method;
  std::vector<LayerInfo> layers;
  std::vector<std::optional<QuantSpec>> choice;  // per layer
  int64_t other_params = 0;
  double predicted_kl = 0;   // Σ of the chosen probes' KL (the metric the plan used)
  double perplexity = NAN;   // measured while planning (greedy), else NaN
  double linear_bytes() const;
  double model_bytes() const { return linear_bytes() + 2.0 * double(other_params); }
  double bits_per_weight() const;  // over the linear layers
  nlohmann::ordered_json to_json() const;
  static Plan from_json(const nlohmann::ordered_json& j);
  static Plan load(const std::string& path);
};

// The merged 4- and 8-bit probe list sorted by `metric` ascending (ties: report order); the
// probe-only INT3/INT2 probes are left out (no plan can store them).
std::vector<const Probe*> merged_by(const SensitivityReport& r, const std::string& metric);
// Plan with every layer at `spec` (or F16 when empty).
Plan uniform_plan(const SensitivityReport& r, const std::optional<QuantSpec>& spec,
                  const std::string& name);
// The paper's cut-offs: for k = 1..N, quantise the entries of the merged list before cut
// point round(k·(m−1)/N) (m entries; the most sensitive never), the last assignment of a
// layer winning. Plans p01..pN.
std::vector<Plan> cutoff_plans(const SensitivityReport& r, int points, const std::string& metric);
// The paper's greedy pass: walk the merged list, keep an assignment when the measured
// perplexity stays ≤ gamma · the unquantised perplexity. `measure` returns the perplexity
// of a plan (the caller applies it to a model).
Plan greedy_plan(const SensitivityReport& r, double gamma, const std::string& metric,
                 const std::function<double(const Plan&)>& measure, double base_ppl);
// Exact multiple-choice knapsack: the Pareto front of (linear bytes, Σ KL) over every
// per-layer choice among F16 and the probed bit widths, cheapest first. Dominated
// combinations are pruned layer by layer, so the front is exact.
std::vector<Plan> pareto_front(const SensitivityReport& r, const std::string& metric);
// The front's minimum-KL plan within `budget_bytes` of model bytes; throws if none fits.
Plan budget_plan(const std::vector<Plan>& front, double budget_bytes);

// Swaps the plan's quantised weights into `model` until the returned guards go away
// ("f16" layers stay as stored: what the lens's probes and evaluate measure).
std::vector<std::unique_ptr<WeightSwap>> apply_plan(Model& model, const Plan& plan);
// The plan for good (src/lens/deploy.cpp), as `kllens quantize` writes it (checkpoint.h):
// quantised layers as apply_plan, and "f16" layers stored as F32 converted to F16. On a
// quantised checkpoint every quantised layer must already be in the plan's storage type.
void deploy_plan(Model& model, const Plan& plan);
// A plan with every linear layer of `model` at `spec` (nullopt: f16); `other_params` is
// left 0, so the plan's own sizes count the linear layers only.
Plan uniform_plan(Model& model, const std::optional<QuantSpec>& spec, const std::string& name);

// ---- evaluate (src/lens/evaluate.cpp) -------------------------------------------------
// A plan against the unquantised model on held-out text, as llama.cpp's perplexity tool
// reports it in KL mode: per scored token (positions 0..ctx−2 of each window predicting
// 1..ctx−1, the perplexity protocol) KLD = KL(p_base‖p_quant), top-1 agreement and
// Δp = p_quant(next) − p_base(next).
struct EvalResult {
  std::string plan;
  double model_bytes = 0, bits_per_weight = 0;
  double ppl_base = NAN, ppl = NAN;
  int64_t tokens = 0;                       // scored tokens
  double kld_mean = 0, kld_err = 0;         // mean ± standard error
  double kld_median = 0, kld_max = 0, kld_min = 0;
  std::vector<std::pair<double, double>> kld_pct;  // (percent, value) 99.9 … 0.1
  double same_top = 0, same_top_err = 0;    // fraction with the same argmax
  double dp_mean = 0, dp_err = 0, dp_rms = 0;
  double prefill_tps = 0, decode_tps = 0;   // quantised model on this backend
  nlohmann::ordered_json to_json() const;
  std::string to_text() const;
};
EvalResult evaluate_plan(Model& model, const Plan& plan, const std::vector<int32_t>& tokens,
                         int64_t ctx, int64_t decode_tokens = 32,
                         const std::function<void(int64_t, int64_t)>& progress = nullptr);

// ---- calibration robustness (src/lens/robustness.cpp) ----------------------------------
// Do the rankings survive a smaller or an out-of-domain calibration set? A sweep over the
// first k of the full set's windows (nested subsets) or over another text gives one row:
// each metric's rank agreement with the damage (rank_report, with the full sweep's
// perplexities: the damage does not depend on the calibration), the rank agreement of its KL
// ordering with the full sweep's, per bit width, and how many layers the plans built from it
// (cut-offs and size budgets, as `lens` builds them) assign differently from the full set's.
struct RobustnessOptions {
  int points = 10;                        // cut-off plans p01..pN
  std::vector<double> budgets_bpw{5, 6, 7};  // size budgets in bits per linear weight
  BootstrapOptions boot;
};
struct RobustnessRow {
  std::string name, kind;                 // "f0.25" / "ood"; "subset" or "ood"
  double fraction = NAN;                  // of the full set's windows (NaN for ood)
  int64_t windows = 0, seqlen = 0;
  std::vector<RankTable> rank;            // every metric against the damage, per bit width
  std::vector<std::pair<int, RankStats>> kl_vs_full;  // KL ordering against the full set's
  // Plan name → layers assigned differently from the full set's plan of that name (−1: the
  // budget fits in one of the two reports only).
  std::vector<std::pair<std::string, int64_t>> plan_changes;
};
// Copies every probe's perplexity from `full` into the same probe (layer, bits) of `sub`.
void attach_perplexity(SensitivityReport& sub, const SensitivityReport& full);
// The plans lens builds from a report by KL(teacher‖student): cut-offs p01..pN and one
// "budget-<B>bpw" per budget that fits.
std::vector<Plan> robustness_plans(const SensitivityReport& r, const RobustnessOptions& opt);
// One row: `sub` (with perplexity, attach_perplexity) against the full sweep.
RobustnessRow robustness_row(const SensitivityReport& full, const SensitivityReport& sub,
                             const std::string& name, const std::string& kind, double fraction,
                             const RobustnessOptions& opt);
// robustness.json: `header` (what was run) plus "rows"; robustness.md: a title, `intro` (what
// was run, in words) and the tables.
nlohmann::ordered_json robustness_json(const nlohmann::ordered_json& header,
                                       const std::vector<RobustnessRow>& rows);
std::string robustness_markdown(const std::string& intro, const std::vector<RobustnessRow>& rows);

// ---- plots (src/lens/svg.cpp): self-contained SVG drawn by kllens ----------------------
struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
  bool line = false;                              // join the points (in the given order)
  std::vector<std::string> labels;                // optional per-point labels
};
// A scatter/line chart; log_x/log_y use log10 axes (non-positive values are dropped).
std::string svg_chart(const std::string& title, const std::string& xlabel,
                      const std::string& ylabel, const std::vector<PlotSeries>& series,
                      bool log_x = false, bool log_y = false);
// Grouped bars: one group per label, one bar per series (values ≥ 0; log_y for KL).
std::string svg_bars(const std::string& title, const std::string& ylabel,
                     const std::vector<std::string>& labels,
                     const std::vector<std::pair<std::string, std::vector<double>>>& series,
                     bool log_y = true);

}  // namespace kllens
