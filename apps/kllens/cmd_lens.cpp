// kllens lens MODEL --calib FILE --eval FILE -o DIR [sweep options] [--eval-tokens 8192
//   --ctx 256 --points 10 --gamma 1.10 --budget-bpw 5,6,7]
// The main job end to end: sensitivity sweep (probe perplexity on the eval text) → rank →
// plans (cut-offs p01..pN, greedy γ, size-budget optima, uniform INT8 / INT4) → evaluate
// every plan → DIR/report.md with tables and SVG plots (DIR/plots/*.svg).
#include <fmt/format.h>

#include <cstring>
#include <filesystem>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/perplexity.h"
#include "lens_cli.h"

namespace kllens::cli {

namespace {

struct LensArgs {
  SweepArgs sweep;
  std::string eval, budgets = "5,6,7";
  int64_t eval_tokens = 8192, ctx = 256;
  int points = 10;
  double gamma = 1.10;
};

std::string short_name(const std::string& layer) {  // backbone.layers.3.mixer.in_proj → 3.in_proj
  std::string s = layer;
  for (const char* p : {"backbone.", "model.", "layers.", "mixer.", "mamba."}) {
    size_t i;
    while ((i = s.find(p)) != std::string::npos) s.erase(i, std::strlen(p));
  }
  return s;
}

// Does per-layer damage add up? For every evaluated plan: the sum of the per-layer KL of
// its assignments (calibration text) against the whole-model KL and ΔPPL it measured on
// the eval text; a scatter plot, Kendall τ-b and Spearman ρ over the plans, and where the
// sum under- or over-predicts (measured / predicted per plan).
std::string additivity_section(const SensitivityReport& rep, const std::vector<Plan>& plans,
                               const std::vector<EvalResult>& res, const std::string& dir,
                               std::vector<std::string>& plots) {
  std::vector<double> predicted, kld, dppl;
  std::vector<std::string> names;
  for (size_t i = 0; i < plans.size(); ++i) {
    double sum = 0;
    bool any = false;
    for (size_t k = 0; k < plans[i].layers.size(); ++k)
      if (const auto& c = plans[i].choice[k]) {
        const Probe* p = rep.find(plans[i].layers[k].name, c->bits);
        if (p) sum += p->m.kl_teacher_to_student;
        any = true;
      }
    if (!any) continue;  // nothing quantised: nothing to predict
    predicted.push_back(sum);
    kld.push_back(res[i].kld_mean);
    dppl.push_back(res[i].ppl - res[i].ppl_base);
    names.push_back(plans[i].name);
  }
  std::string md = "\n## Additivity: does the per-layer KL predict the plan's damage?\n\n";
  if (predicted.size() < 3) return md + "Fewer than three plans quantise anything; nothing to correlate.\n";
  const RankStats k = rank_stats(predicted, kld), p = rank_stats(predicted, dppl);
  PlotSeries s{"plans", {}, false, names};
  for (size_t i = 0; i < predicted.size(); ++i) s.points.emplace_back(predicted[i], kld[i]);
  write_file_atomic(dir + "/plots/additivity.svg",
                    svg_chart(fmt::format("Predicted (sum of per-layer KL) vs measured KL, rho {:.3f}", k.rho),
                              "sum of the plan's per-layer KL, calibration (log)",
                              "measured mean KLD on the eval text (log)", {s}, true, true));
  plots.push_back("additivity.svg");
  md += fmt::format("Predicted damage = Σ of the plan's per-layer KL(teacher‖student) (calibration "
                    "windows); measured = the whole quantised model's mean KLD and ΔPPL on the eval "
                    "text. Over {} plans: against measured KLD Kendall τ-b {:.3f} (p {:.2g}), Spearman ρ "
                    "{:.3f}; against ΔPPL τ-b {:.3f} (p {:.2g}), ρ {:.3f}. Plot: plots/additivity.svg.\n\n",
                    predicted.size(), k.tau_b, k.tau_p, k.rho, p.tau_b, p.tau_p, p.rho);
  md += "| plan | Σ per-layer KL | measured KLD | measured / predicted | ΔPPL |\n|---|---|---|---|---|\n";
  std::vector<double> ratio;
  for (size_t i = 0; i < predicted.size(); ++i) {
    ratio.push_back(predicted[i] > 0 ? kld[i] / predicted[i] : NAN);
    md += fmt::format("| {} | {:.4g} | {:.4g} | {:.3f} | {:+.4f} |\n", names[i], predicted[i], kld[i], ratio.back(), dppl[i]);
  }
  size_t lo = 0, hi = 0;
  for (size_t i = 0; i < ratio.size(); ++i) {
    if (ratio[i] < ratio[lo]) lo = i;
    if (ratio[i] > ratio[hi]) hi = i;
  }
  md += fmt::format("\nThe sum {} most for {} (measured {:.2f}× the sum) and {} most for {} ({:.2f}×). "
                    "A ratio above 1 means the layers' damage compounds (interacts) in that plan; below "
                    "1, it partly cancels or the eval text is milder than the calibration windows.\n",
                    ratio[hi] > 1 ? "under-predicts" : "comes closest", names[hi], ratio[hi],
                    ratio[lo] < 1 ? "over-predicts" : "comes closest", names[lo], ratio[lo]);
  return md;
}

void run_lens_on(const LensArgs& a, BackendHandle& be) {
  namespace fs = std::filesystem;
  const std::string dir = a.sweep.out;
  if (!a.sweep.shard.empty()) fail("--shard: lens runs the whole job; shard `kllens sensitivity` and `kllens merge` instead");
  fs::create_directories(dir + "/plots");

  // 1. sweep
  SweepArgs sw = a.sweep;
  sw.ppl_text = a.eval;
  sw.ppl_tokens = a.eval_tokens;
  sw.ppl_ctx = a.ctx;
  SensitivityReport rep;
  fmt::print("== sensitivity sweep\n");
  if (!run_sweep(sw, *be, rep)) fail("stopped after {} new probes (--max-probes); run again with --resume", sw.max_probes);
  // 2. rank
  const auto tables = rank_report(rep);
  write_file_atomic(dir + "/rank.json", rank_json(tables).dump(2) + "\n");
  fmt::print("{}", rank_text(tables));

  // 3. plans
  auto model = Model::load(sw.model, *be);
  auto ids = load_tokenizer(sw.model)->encode(read_text(a.eval));
  if (a.eval_tokens > 0 && int64_t(ids.size()) > a.eval_tokens) ids.resize(size_t(a.eval_tokens));
  const std::string metric = "kl_teacher_to_student";
  std::vector<Plan> plans = cutoff_plans(rep, a.points, metric);
  {
    fmt::print("== greedy (gamma {})\n", a.gamma);
    ProgressBar bar("greedy");
    int64_t step = 0;
    const int64_t total = int64_t(merged_by(rep, metric).size());  // the 4- and 8-bit probes
    plans.push_back(greedy_plan(rep, a.gamma, metric, [&](const Plan& p) {
      auto guards = apply_plan(*model, p);
      const double ppl = perplexity(*model, ids, a.ctx).ppl();
      bar.update(++step, total, fmt::format("ppl {:.4f}", ppl));
      return ppl;
    }, rep.teacher_perplexity));
  }
  const auto front = pareto_front(rep, metric);
  double weights = 0;
  for (const LayerInfo& l : rep.layers) weights += double(l.out_features) * double(l.in_features);
  for (int32_t bpw : parse_ids(a.budgets, "--budget-bpw")) {
    try {
      Plan p = budget_plan(front, double(bpw) * weights / 8.0 + 2.0 * double(rep.other_params));
      p.name = fmt::format("budget-{}bpw", bpw);
      plans.push_back(p);
    } catch (const Error& e) {
      fmt::print(stderr, "kllens: budget {} bits/weight: {}\n", bpw, e.what());
    }
  }
  plans.push_back(uniform_plan(rep, QuantSpec{8, rep.group}, "uniform-q8"));
  plans.push_back(uniform_plan(rep, QuantSpec{4, rep.group}, "uniform-q4"));
  fs::create_directories(dir + "/plans");
  for (const Plan& p : plans) write_file_atomic(dir + "/plans/" + p.name + ".json", p.to_json().dump(2) + "\n");

  // 4. evaluate
  fmt::print("== evaluate {} plans\n", plans.size());
  std::vector<EvalResult> res;
  ProgressBar bar("evaluate");
  for (size_t i = 0; i < plans.size(); ++i) {
    res.push_back(evaluate_plan(*model, plans[i], ids, a.ctx, 16));
    bar.update(int64_t(i + 1), int64_t(plans.size()), plans[i].name);
  }
  nlohmann::ordered_json ej = nlohmann::ordered_json::array();
  for (const auto& r : res) ej.push_back(r.to_json());
  write_file_atomic(dir + "/evaluation.json", ej.dump(2) + "\n");

  // 5. plots
  std::vector<std::string> plots;
  for (const RankTable& t : tables)
    for (const auto& [name, st] : t.rows) {
      if (name == "kl_student_to_teacher") continue;  // ≈ kl_teacher_to_student; one plot suffices
      PlotSeries s{name, {}, false, {}};
      for (const Probe& p : rep.probes)
        if (p.bits == t.bits) {
          s.points.emplace_back(metric_value(p.m, name), p.m.perplexity);
          s.labels.push_back(short_name(p.layer));
        }
      const bool logx = name != "sqnr_db" && name != "top1_agreement" && name != "delta_cross_entropy";
      const std::string f = fmt::format("scatter_{}_{}bit.svg", name, t.bits);
      write_file_atomic(dir + "/plots/" + f,
                        svg_chart(fmt::format("{}-bit: {} vs perplexity (tau-a {:.3f}, tau-b {:.3f})", t.bits, name,
                                              st.tau_a, st.tau_b),
                                  name + (logx ? " (log)" : ""), "perplexity with the layer quantised", {s}, logx, false));
      plots.push_back(f);
    }
  std::vector<std::string> labels;
  for (const LayerInfo& l : rep.layers) labels.push_back(short_name(l.name));
  for (int b : rep.bits) {
    std::vector<double> kl;
    for (const LayerInfo& l : rep.layers) {
      const Probe* p = rep.find(l.name, b);
      kl.push_back(p ? p->m.kl_teacher_to_student : NAN);
    }
    const std::string f = fmt::format("bars_kl_{}bit.svg", b);
    write_file_atomic(dir + "/plots/" + f, svg_bars(fmt::format("{}-bit per-layer sensitivity", b),
                                                    "KL(teacher||student), nats/token (log)", labels,
                                                    {{fmt::format("q{}", b), kl}}));
    plots.push_back(f);
  }
  {
    std::vector<PlotSeries> ser;
    auto add = [&](const std::string& name, bool line, auto pred) {
      PlotSeries s{name, {}, line, {}};
      for (size_t i = 0; i < plans.size(); ++i)
        if (pred(plans[i])) {
          s.points.emplace_back(res[i].model_bytes / 1e6, res[i].ppl);
          s.labels.push_back(plans[i].name);
        }
      if (!s.points.empty()) ser.push_back(s);
    };
    add("cutoffs p01..p" + std::to_string(a.points), true, [](const Plan& p) { return p.method == "cutoffs"; });
    add("greedy", false, [](const Plan& p) { return p.method == "greedy"; });
    add("budget optimum", true, [](const Plan& p) { return p.method == "budget"; });
    add("uniform q8 / q4", false, [](const Plan& p) { return p.method == "uniform"; });
    ser.push_back({"unquantised (F16 size)", {{uniform_plan(rep, std::nullopt, "f16").model_bytes() / 1e6, res[0].ppl_base}}, false, {"f16"}});
    write_file_atomic(dir + "/plots/pareto.svg", svg_chart("Model size vs perplexity, every method", "model size (MB, nominal)",
                                                           "perplexity on the eval text", ser));
    plots.push_back("pareto.svg");
  }

  // 6. report
  std::string md = fmt::format("# KL lens report: {}\n\n", rep.model);
  md += "## Verdict\n\n" + rank_verdict(tables, int64_t(ids.size())) + "\n";
  md += fmt::format("Calibration: {} windows × {} tokens; probes: {} layers × bits {{{}}}, grouping {}; "
                    "perplexity on {} tokens of `{}` (ctx {}); unquantised perplexity {:.4f}; backend {}.\n\n",
                    rep.windows, rep.seqlen, rep.layers.size(), fmt::join(rep.bits, ", "),
                    rep.group == 0 ? std::string("per channel") : fmt::format("groups of {}", rep.group),
                    ids.size(), a.eval, a.ctx, rep.teacher_perplexity, be->name());
  md += "## Does the metric order layers by damage?\n\nKendall τ and Spearman ρ of each metric against "
        "the perplexity of the model with that one layer quantised (+1 = exactly the damage order; "
        "SQNR and top-1 agreement negated), with bootstrap 95% intervals (2000 resamples of the "
        "layers, seed 1234) and the paired bootstrap interval of τ-b(KL) − τ-b(other).\n\n";
  for (const RankTable& t : tables) {
    md += fmt::format("### {}-bit ({} layers)\n\n| metric | τ-a | τ-b | 95% CI | p(τ-b) | ρ | 95% CI | p(ρ) |\n"
                      "|---|---|---|---|---|---|---|---|\n", t.bits, t.n);
    for (const auto& [name, s] : t.rows)
      md += fmt::format("| {} | {:.4f} | {:.4f} | [{:.3f}, {:.3f}] | {:.3g} | {:.4f} | [{:.3f}, {:.3f}] | {:.3g} |\n", name,
                        s.tau_a, s.tau_b, s.tau_b_ci.lo, s.tau_b_ci.hi, s.tau_p, s.rho, s.rho_ci.lo, s.rho_ci.hi, s.rho_p);
    md += "\n| τ-b(KL) − τ-b(…) | difference | 95% CI | resolved |\n|---|---|---|---|\n";
    for (const TauDifference& d : t.tau_diff)
      md += fmt::format("| {} | {:+.4f} | [{:.3f}, {:.3f}] | {} |\n", d.other, d.diff, d.ci.lo, d.ci.hi,
                        d.ci.excludes_zero() ? "yes" : "no");
    md += "\n";
  }
  md += "## Plans, evaluated\n\n| plan | method | MB | bits/weight | f16/q8/q4 | PPL | PPL ratio | mean KLD | KLD p99 | same top | prefill tok/s | decode tok/s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < plans.size(); ++i) {
    int64_t n8 = 0, n4 = 0;
    for (const auto& c : plans[i].choice) if (c) (c->bits == 8 ? n8 : n4)++;
    const EvalResult& r = res[i];
    md += fmt::format("| {} | {} | {:.3f} | {:.2f} | {}/{}/{} | {:.4f} | {:.5f} | {:.6f} | {:.5f} | {:.2f}% | {:.0f} | {:.0f} |\n",
                      plans[i].name, plans[i].method, r.model_bytes / 1e6, r.bits_per_weight,
                      int64_t(plans[i].choice.size()) - n8 - n4, n8, n4, r.ppl, r.ppl / r.ppl_base, r.kld_mean,
                      r.kld_pct[1].second, 100 * r.same_top, r.prefill_tps, r.decode_tps);
  }
  md += additivity_section(rep, plans, res, dir, plots);
  md += "\n## Plots\n\n";
  for (const std::string& f : plots) md += fmt::format("![{}](plots/{})\n\n", f, f);
  md += "## Per-layer sensitivity\n\n| layer | block |";
  for (int b : rep.bits) md += fmt::format(" KL q{} | PPL q{} |", b, b);
  md += "\n|---|---|";
  for (size_t k = 0; k < rep.bits.size(); ++k) md += "---|---|";
  md += "\n";
  for (const LayerInfo& l : rep.layers) {
    md += fmt::format("| {} | {} |", l.name, l.block);
    for (int b : rep.bits) {
      const Probe* p = rep.find(l.name, b);
      md += p ? fmt::format(" {:.3g} | {:.4f} |", p->m.kl_teacher_to_student, p->m.perplexity) : " | |";
    }
    md += "\n";
  }
  md += "\nFiles: sensitivity.json/.csv, rank.json, plans/*.json, evaluation.json, plots/*.svg.\n";
  write_file_atomic(dir + "/report.md", md);
  fmt::print("wrote {}/report.md ({} plots)\n", dir, plots.size());
}

}  // namespace

void register_lens(CLI::App& app) {
  auto a = std::make_shared<LensArgs>();
  auto* cmd = app.add_subcommand("lens", "The KL lens end to end: sweep, rank, plans, evaluation, report");
  add_sweep_options(cmd, a->sweep, true);
  cmd->add_option("--eval", a->eval, "Held-out text: probe perplexity and plan evaluation")->required();
  cmd->add_option("--eval-tokens", a->eval_tokens, "Use the first N eval tokens (0 = all)")->capture_default_str();
  cmd->add_option("--ctx", a->ctx, "Perplexity window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--points", a->points, "Cut-off points")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--gamma", a->gamma, "Greedy perplexity budget factor")->capture_default_str();
  cmd->add_option("--budget-bpw", a->budgets, "Size budgets in bits per linear weight")->capture_default_str();
  cmd->callback([a] {
    // A device fault goes on on the CPU: the job again from the start, keeping the probes
    // the sweep saved (every output file is written whole or not at all).
    int attempt = 0;
    run_with_cpu_fallback(sweep_backends(a->sweep)[0], [&](BackendHandle& be) {
      LensArgs again = *a;
      if (attempt++ > 0) again.sweep = after_device_fault(a->sweep);
      run_lens_on(again, be);
    });
  });
}

}  // namespace kllens::cli
