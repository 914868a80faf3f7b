// Whole-model evaluation of a plan against the unquantised model (see lens.h).
// Per batch of windows: the base forward, the plan's weights swapped in, the quantised
// forward, kl_reduce on the device, the weights swapped back; the quantised weights are
// made once. Statistics in fp64 on the host.
#include <algorithm>
#include <chrono>
#include <map>
#include <cmath>

#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/lens.h"

namespace kllens {

namespace {

double percentile(const std::vector<double>& sorted, double pct) {  // linear interpolation
  if (sorted.empty()) return NAN;
  const double pos = pct / 100.0 * double(sorted.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

EvalResult evaluate_plan(Model& model, const Plan& plan, const std::vector<int32_t>& tokens,
                         int64_t ctx, int64_t decode_tokens,
                         const std::function<void(int64_t, int64_t)>& progress) {
  KL_CHECK(ctx >= 2, "context {} too short", ctx);
  const int64_t windows = int64_t(tokens.size()) / ctx;
  if (windows == 0) fail("text has {} tokens, fewer than one window of {}", tokens.size(), ctx);
  Backend& be = model.backend();
  const int64_t V = model.config().vocab_size, B = std::min<int64_t>(4, windows);

  // The plan's weights, quantised once.
  std::vector<std::pair<Weight*, Weight>> qw;
  {
    std::map<std::string, Weight*> slots;
    for (const LinearLayer& l : model.linear_layers(true)) slots[l.name] = l.weight;  // lm_head too
    for (size_t i = 0; i < plan.layers.size(); ++i) {
      auto it = slots.find(plan.layers[i].name);
      if (it == slots.end()) fail("plan layer {} is not a linear layer of this model", plan.layers[i].name);
      if (plan.choice[i]) qw.emplace_back(it->second, quantize_weight(be, *it->second, *plan.choice[i]));
    }
  }
  auto swap_in = [&] {
    std::vector<std::unique_ptr<WeightSwap>> g;
    for (auto& [slot, w] : qw) g.push_back(std::make_unique<WeightSwap>(slot, w));
    return g;
  };

  EvalResult r;
  r.plan = plan.name;
  r.model_bytes = plan.model_bytes();
  r.bits_per_weight = plan.bits_per_weight();
  const Tensor base = be.alloc(DType::F32, {B * ctx, V}), quant = be.alloc(DType::F32, {B * ctx, V});
  const Tensor stats = be.alloc(DType::F32, {B * ctx, kKlStats});
  std::vector<float> host(size_t(B * ctx * kKlStats));
  std::vector<double> kld, dp;
  double nll_base = 0, nll = 0, same = 0, qseconds = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += B) {
    const int64_t nb = std::min(B, windows - w0), rows = nb * ctx;
    const std::vector<int32_t> ids(tokens.begin() + w0 * ctx, tokens.begin() + (w0 + nb) * ctx);
    std::vector<int32_t> tg(ids.size());
    for (int64_t i = 0; i < rows; ++i) tg[size_t(i)] = i % ctx == ctx - 1 ? -1 : ids[size_t(i + 1)];
    const Tensor t = be.alloc(DType::I32, {rows});
    be.upload(t, tg.data());
    {
      auto st = model.new_state(nb);
      model.forward(ids, nb, ctx, *st, base.slice_rows(0, rows));
    }
    {
      auto guards = swap_in();
      const auto t0 = std::chrono::steady_clock::now();
      auto st = model.new_state(nb);
      model.forward(ids, nb, ctx, *st, quant.slice_rows(0, rows));
      be.sync();
      qseconds += seconds_since(t0);
    }
    be.kl_reduce(base.slice_rows(0, rows), quant.slice_rows(0, rows), t, stats.slice_rows(0, rows));
    be.download(stats.slice_rows(0, rows), host.data());
    for (int64_t i = 0; i < rows; ++i) {
      if (i % ctx == ctx - 1) continue;  // scored: positions 0..ctx−2
      const float* s = host.data() + i * kKlStats;
      kld.push_back(s[0]);
      nll_base += s[2];
      nll += s[3];
      same += s[6];
      dp.push_back(std::exp(-double(s[3])) - std::exp(-double(s[2])));
    }
    if (progress) progress(w0 + nb, windows);
  }
  const double n = double(kld.size());
  r.tokens = int64_t(kld.size());
  r.ppl_base = std::exp(nll_base / n);
  r.ppl = std::exp(nll / n);
  auto mean_err = [&](const std::vector<double>& v, double& mean, double& err) {
    double s = 0, s2 = 0;
    for (double x : v) s += x;
    mean = s / n;
    for (double x : v) s2 += (x - mean) * (x - mean);
    err = n > 1 ? std::sqrt(s2 / (n - 1) / n) : 0;
  };
  mean_err(kld, r.kld_mean, r.kld_err);
  mean_err(dp, r.dp_mean, r.dp_err);
  double sq = 0;
  for (double x : dp) sq += x * x;
  r.dp_rms = std::sqrt(sq / n);
  r.same_top = same / n;
  r.same_top_err = std::sqrt(r.same_top * (1 - r.same_top) / n);
  std::vector<double> sorted = kld;
  std::sort(sorted.begin(), sorted.end());
  r.kld_median = percentile(sorted, 50);
  r.kld_max = sorted.back();
  r.kld_min = sorted.front();
  for (double p : {99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1}) r.kld_pct.emplace_back(p, percentile(sorted, p));
  r.prefill_tps = qseconds > 0 ? double(windows * ctx) / qseconds : 0;

  // Decode speed of the quantised model: one sequence, one token at a time.
  if (decode_tokens > 0) {
    auto guards = swap_in();
    auto st = model.new_state(1);
    const Tensor step = quant.slice_rows(0, 1);
    std::vector<int32_t> next{tokens[0]};
    const Tensor am = be.alloc(DType::I32, {1});
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < decode_tokens; ++i) {
      model.forward(next, 1, 1, *st, step);
      be.argmax(step, am);
      be.download(am, next.data());
    }
    r.decode_tps = double(decode_tokens) / seconds_since(t0);
  }
  return r;
}

nlohmann::ordered_json EvalResult::to_json() const {
  nlohmann::ordered_json j;
  j["plan"] = plan;
  j["model_bytes"] = model_bytes;
  j["bits_per_weight"] = bits_per_weight;
  j["tokens"] = tokens;
  j["perplexity"] = ppl;
  j["perplexity_base"] = ppl_base;
  j["ppl_ratio"] = ppl / ppl_base;
  j["kld"] = {{"mean", kld_mean}, {"err", kld_err}, {"median", kld_median}, {"max", kld_max}, {"min", kld_min}};
  for (const auto& [p, v] : kld_pct) j["kld"][fmt::format("p{:g}", p)] = v;
  j["same_top_p"] = {{"mean", same_top}, {"err", same_top_err}};
  j["delta_p"] = {{"mean", dp_mean}, {"err", dp_err}, {"rms", dp_rms}};
  j["prefill_tokens_per_s"] = prefill_tps;
  j["decode_tokens_per_s"] = decode_tps;
  return j;
}

std::string EvalResult::to_text() const {
  std::string s;
  s += fmt::format("plan {}: {:.3f} MB, {:.3f} bits/weight (linear layers)\n", plan, model_bytes / 1e6, bits_per_weight);
  s += fmt::format("Mean PPL(Q)              : {:10.6f}\n", ppl);
  s += fmt::format("Mean PPL(base)           : {:10.6f}\n", ppl_base);
  s += fmt::format("PPL ratio                : {:10.6f}\n", ppl / ppl_base);
  s += fmt::format("Mean    KLD              : {:10.6f} ± {:.6f}\n", kld_mean, kld_err);
  s += fmt::format("Maximum KLD              : {:10.6f}\n", kld_max);
  for (const auto& [p, v] : kld_pct) s += fmt::format("{:<5}% KLD               : {:10.6f}\n", fmt::format("{:g}", p), v);
  s += fmt::format("Median  KLD              : {:10.6f}\n", kld_median);
  s += fmt::format("Minimum KLD              : {:10.6f}\n", kld_min);
  s += fmt::format("Mean    Δp               : {:9.4f} ± {:.4f} %\n", 100 * dp_mean, 100 * dp_err);
  s += fmt::format("RMS Δp                   : {:9.4f} %\n", 100 * dp_rms);
  s += fmt::format("Same top p               : {:9.4f} ± {:.4f} %\n", 100 * same_top, 100 * same_top_err);
  s += fmt::format("tokens scored {}; quantised model: prefill {:.1f} tokens/s, decode {:.1f} tokens/s\n",
                   tokens, prefill_tps, decode_tps);
  return s;
}

}  // namespace kllens
