// kllens allocate (DIR | --paper BITS=FILE...) --method cutoffs|greedy|budget|uniform -o plan.json
//   (--paper: results in the paper's layout; --model gives the layer shapes sizes need)
//   cutoffs: [--points 10] [--cut K]   the paper's evenly spaced cut-offs (plan pK, default the last)
//   greedy:  --model MODEL --ppl-text FILE [--gamma 1.10 --ppl-tokens N --ppl-ctx 256 --backend]
//   budget:  --budget-mb MB | --bits-per-weight B   exact knapsack optimum + the Pareto front
//   uniform: --type f16|q8|q4|q8_g32|q4_g32|...     every layer at one type (a baseline)
// The chosen plan is the top level of plan.json; "candidates" holds every plan the method
// produced (cut-offs p01..pN, or the Pareto front).
#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/perplexity.h"
#include "lens_cli.h"

namespace kllens::cli {

namespace {

struct AllocArgs {
  std::string dir, method = "cutoffs", out, metric = "kl_teacher_to_student", model, ppl_text, type;
  int points = 10, cut = 0;
  double gamma = 1.10, budget_mb = 0, bpw = 0;
  int64_t ppl_tokens = 0, ppl_ctx = 256;
  std::vector<std::string> paper;  // results in the paper's layout instead of DIR
  BackendOption backend;
};

void print_plan(const Plan& p) {
  int64_t n8 = 0, n4 = 0;
  for (const auto& c : p.choice) if (c) (c->bits == 8 ? n8 : n4)++;
  fmt::print("{:<16} {:>10.3f} MB  {:>6.3f} bits/weight  f16 {:>3} q8 {:>3} q4 {:>3}  ΣKL {:.4g}{}\n", p.name,
             p.model_bytes() / 1e6, p.bits_per_weight(), int64_t(p.choice.size()) - n8 - n4, n8, n4,
             p.predicted_kl, std::isfinite(p.perplexity) ? fmt::format("  ppl {:.4f}", p.perplexity) : "");
}

}  // namespace

void register_allocate(CLI::App& app) {
  auto a = std::make_shared<AllocArgs>();
  auto* cmd = app.add_subcommand("allocate", "Mixed-precision plans from a sensitivity sweep");
  cmd->add_option("DIR", a->dir, "Folder holding sensitivity.json");
  add_paper_option(cmd, a->paper);
  cmd->add_option("--method", a->method, "cutoffs, greedy, budget or uniform")->capture_default_str()
      ->check(CLI::IsMember({"cutoffs", "greedy", "budget", "uniform"}));
  cmd->add_option("-o,--out", a->out, "Plan file")->required();
  cmd->add_option("--metric", a->metric, "Metric the probes are sorted / summed by")->capture_default_str()
      ->check(CLI::IsMember({"kl_teacher_to_student", "kl_student_to_teacher", "mse", "delta_cross_entropy"}));
  // The paper uses 10; a plan per point is built, so the count is bounded.
  cmd->add_option("--points", a->points, "cutoffs: number of cut points")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--cut", a->cut, "cutoffs: which plan p01..pN to write (default N)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--gamma", a->gamma, "greedy: perplexity budget factor")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--model", a->model, "greedy: the model folder the sweep ran on; --paper: layer shapes");
  cmd->add_option("--ppl-text", a->ppl_text, "greedy: perplexity text");
  cmd->add_option("--ppl-tokens", a->ppl_tokens, "greedy: first N tokens (0 = all)");
  cmd->add_option("--ppl-ctx", a->ppl_ctx, "greedy: perplexity window")->capture_default_str();
  cmd->add_option("--budget-mb", a->budget_mb, "budget: model size limit in MB (1e6 bytes)");
  cmd->add_option("--bits-per-weight", a->bpw, "budget: average bits per linear weight");
  cmd->add_option("--type", a->type, "uniform: f16, q8, q4, q8_g32, q4_g32 (also _g64, _g128)");
  a->backend.add_to(cmd);
  cmd->callback([a] {
    refuse_output_over_inputs("--out", a->out, {a->dir + "/sensitivity.json", a->model, a->ppl_text});
    const SensitivityReport r = load_report(a->dir, a->paper, a->model);
    if (!a->paper.empty() && a->model.empty() && a->method != "cutoffs")
      fail("--paper with --method {} needs --model MODEL for the layer shapes", a->method);
    Plan chosen;
    std::vector<Plan> candidates;
    if (a->method == "cutoffs") {
      candidates = cutoff_plans(r, a->points, a->metric);
      const int k = a->cut == 0 ? a->points : a->cut;
      if (k > a->points) fail("--cut {} > --points {}", k, a->points);
      chosen = candidates[size_t(k - 1)];
    } else if (a->method == "greedy") {
      if (a->model.empty() || a->ppl_text.empty()) fail("--method greedy needs --model and --ppl-text");
      auto be = a->backend.make();
      auto model = Model::load(a->model, *be);
      auto ids = load_tokenizer(a->model)->encode(read_text(a->ppl_text));
      if (a->ppl_tokens > 0 && int64_t(ids.size()) > a->ppl_tokens) ids.resize(size_t(a->ppl_tokens));
      const double base = perplexity(*model, ids, a->ppl_ctx).ppl();
      ProgressBar bar("greedy");
      int64_t step = 0;
      const int64_t total = int64_t(merged_by(r, a->metric).size());  // the 4- and 8-bit probes
      chosen = greedy_plan(r, a->gamma, a->metric, [&](const Plan& p) {
        auto guards = apply_plan(*model, p);
        const double ppl = perplexity(*model, ids, a->ppl_ctx).ppl();
        bar.update(++step, total, fmt::format("ppl {:.4f} (limit {:.4f})", ppl, a->gamma * base));
        return ppl;
      }, base);
      candidates = {chosen};
    } else if (a->method == "uniform") {
      if (a->type.empty()) fail("--method uniform needs --type");
      std::optional<QuantSpec> spec;
      if (a->type != "f16") {
        try {
          spec = QuantSpec::parse(a->type);
        } catch (const Error& e) {
          fail("--type {}: {}", a->type, e.what());
        }
      }
      chosen = uniform_plan(r, spec, "uniform-" + a->type);
      candidates = {chosen};
    } else {
      if ((a->budget_mb > 0) == (a->bpw > 0)) fail("--method budget needs one of --budget-mb and --bits-per-weight");
      candidates = pareto_front(r, a->metric);
      double budget = a->budget_mb * 1e6;
      if (a->bpw > 0) {
        double w = 0;
        for (const LayerInfo& l : r.layers) w += double(l.out_features) * double(l.in_features);
        budget = a->bpw * w / 8.0 + 2.0 * double(r.other_params);
      }
      chosen = budget_plan(candidates, budget);
    }
    auto j = chosen.to_json();
    auto& c = j["candidates"] = nlohmann::ordered_json::array();
    for (const Plan& p : candidates) c.push_back(p.to_json());
    write_file_atomic(a->out, j.dump(2) + "\n");
    if (candidates.size() > 1 && candidates.size() <= 40)
      for (const Plan& p : candidates) print_plan(p);
    else if (candidates.size() > 40)
      fmt::print("Pareto front: {} plans from {:.3f} to {:.3f} MB\n", candidates.size(),
                 candidates.front().model_bytes() / 1e6, candidates.back().model_bytes() / 1e6);
    fmt::print("chosen: ");
    print_plan(chosen);
    fmt::print("wrote {}\n", a->out);
  });
}

}  // namespace kllens::cli
