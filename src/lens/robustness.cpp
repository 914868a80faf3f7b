// Calibration robustness (include/kllens/lens.h, docs/lens.md): one sweep on a subset of the
// calibration windows, or on an out-of-domain text, set against the full sweep. The damage
// (each probe's perplexity on the eval text) does not depend on the calibration, so it is
// measured once, in the full sweep, and attached to every other one.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/lens.h"

namespace kllens {

namespace {

const char* kKl = "kl_teacher_to_student";

nlohmann::ordered_json num(double x) {
  return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr);
}

// "0.412 [0.20, 0.61]*": τ-b, its bootstrap interval, * when significant (p < 0.05 and the
// interval above 0, rank_verdict's rule).
std::string tau_cell(const RankStats& s) {
  if (!std::isfinite(s.tau_b)) return "–";
  const bool sig = s.tau_p < 0.05 && s.tau_b_ci.lo > 0;
  return fmt::format("{:.3f} [{:.2f}, {:.2f}]{}", s.tau_b, s.tau_b_ci.lo, s.tau_b_ci.hi, sig ? "*" : "");
}

std::string row_label(const RobustnessRow& r) {
  return r.kind == "ood" ? std::string("out of domain") : fmt::format("{:g} of the windows", r.fraction);
}

}  // namespace

void attach_perplexity(SensitivityReport& sub, const SensitivityReport& full) {
  for (Probe& p : sub.probes) {
    const Probe* f = full.find(p.layer, p.bits);
    if (!f) fail("robustness: probe {} is not in the full sweep", p.key());
    p.m.perplexity = f->m.perplexity;
  }
  sub.teacher_perplexity = full.teacher_perplexity;
}

std::vector<Plan> robustness_plans(const SensitivityReport& r, const RobustnessOptions& opt) {
  std::vector<Plan> plans = cutoff_plans(r, opt.points, kKl);
  const auto front = pareto_front(r, kKl);
  double weights = 0;
  for (const LayerInfo& l : r.layers) weights += double(l.out_features) * double(l.in_features);
  for (double bpw : opt.budgets_bpw) {
    try {
      Plan p = budget_plan(front, bpw * weights / 8.0 + 2.0 * double(r.other_params));
      p.name = fmt::format("budget-{:g}bpw", bpw);
      plans.push_back(std::move(p));
    } catch (const Error&) {
      // No plan fits this budget (below all-INT4): left out of both reports alike.
    }
  }
  return plans;
}

RobustnessRow robustness_row(const SensitivityReport& full, const SensitivityReport& sub,
                             const std::string& name, const std::string& kind, double fraction,
                             const RobustnessOptions& opt) {
  KL_CHECK(sub.layers.size() == full.layers.size() && sub.bits == full.bits,
           "robustness: {} probes other layers or bit widths than the full sweep", name);
  RobustnessRow row;
  row.name = name;
  row.kind = kind;
  row.fraction = fraction;
  row.windows = sub.windows;
  row.seqlen = sub.seqlen;
  row.rank = rank_report(sub, opt.boot);
  for (int b : full.bits) {
    std::vector<double> x, y;
    for (const LayerInfo& l : full.layers) {
      const Probe *ps = sub.find(l.name, b), *pf = full.find(l.name, b);
      KL_CHECK(ps && pf, "robustness: no probe {}@{}", l.name, b);
      x.push_back(ps->m.kl_teacher_to_student);
      y.push_back(pf->m.kl_teacher_to_student);
    }
    row.kl_vs_full.emplace_back(b, rank_stats(x, y));
  }
  const std::vector<Plan> pf = robustness_plans(full, opt), ps = robustness_plans(sub, opt);
  std::map<std::string, const Plan*> by_name;
  for (const Plan& p : ps) by_name[p.name] = &p;
  for (const Plan& f : pf) {
    const auto it = by_name.find(f.name);
    if (it == by_name.end()) {
      row.plan_changes.emplace_back(f.name, -1);
      continue;
    }
    int64_t changed = 0;
    for (size_t i = 0; i < f.choice.size(); ++i) changed += f.choice[i] != it->second->choice[i];
    row.plan_changes.emplace_back(f.name, changed);
    by_name.erase(it);
  }
  for (const auto& [n, p] : by_name) row.plan_changes.emplace_back(n, -1);
  return row;
}

nlohmann::ordered_json robustness_json(const nlohmann::ordered_json& header,
                                       const std::vector<RobustnessRow>& rows) {
  nlohmann::ordered_json j = header;
  auto& out = j["rows"] = nlohmann::ordered_json::array();
  for (const RobustnessRow& r : rows) {
    nlohmann::ordered_json e;
    e["name"] = r.name;
    e["kind"] = r.kind;
    e["fraction"] = num(r.fraction);
    e["windows"] = r.windows;
    e["seqlen"] = r.seqlen;
    e["rank"] = rank_json(r.rank);
    for (const auto& [b, s] : r.kl_vs_full)
      e["kl_vs_full"][std::to_string(b)] = {{"kendall_tau_a", num(s.tau_a)}, {"kendall_tau_b", num(s.tau_b)},
                                            {"kendall_p", num(s.tau_p)}, {"spearman_rho", num(s.rho)},
                                            {"spearman_p", num(s.rho_p)}};
    auto& pc = e["plans_changed"] = nlohmann::ordered_json::object();
    for (const auto& [n, c] : r.plan_changes) pc[n] = c < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c);
    out.push_back(std::move(e));
  }
  return j;
}

std::string robustness_markdown(const std::string& intro, const std::vector<RobustnessRow>& rows) {
  std::string md = fmt::format("# Calibration robustness\n\n{}\n\n", intro);
  if (rows.empty()) return md;
  // ---- each metric against the damage ---------------------------------------------------
  std::vector<std::string> metrics;
  for (const auto& [name, s] : rows.front().rank.front().rows) metrics.push_back(name);
  md += "## Each metric against the damage (perplexity of the single-layer probe model)\n\n"
        "Kendall τ-b with its bootstrap 95% interval (layers resampled); * = significant (p < 0.05 "
        "and the interval above 0). SQNR and top-1 agreement negated: +1 = orders layers by damage.\n\n";
  md += "| calibration | windows × tokens | bits |";
  for (const std::string& m : metrics) md += fmt::format(" {} |", m);
  md += "\n|---|---|---|";
  for (size_t k = 0; k < metrics.size(); ++k) md += "---|";
  md += "\n";
  for (const RobustnessRow& r : rows)
    for (const RankTable& t : r.rank) {
      md += fmt::format("| {} | {} × {} | {} |", row_label(r), r.windows, r.seqlen, t.bits);
      for (const std::string& m : metrics) {
        const auto it = std::find_if(t.rows.begin(), t.rows.end(), [&](const auto& e) { return e.first == m; });
        md += " " + (it == t.rows.end() ? std::string("–") : tau_cell(it->second)) + " |";
      }
      md += "\n";
    }
  // ---- the KL ordering and the plans against the full set -------------------------------
  md += "\n## The KL ordering and the plans against the full calibration set\n\n"
        "KL order: Kendall τ-b (p) between this set's KL(teacher‖student) ordering of the layers and "
        "the full set's, per bit width. Plans: the layers whose assignment (f16/q8/q4) differs from the "
        "full set's plan of the same name; the cut-off plans as the mean and the largest count over "
        "p01..pN.\n\n";
  const RobustnessRow& first = rows.front();
  std::vector<std::string> budgets;
  for (const auto& [n, c] : first.plan_changes)
    if (n.rfind("budget-", 0) == 0) budgets.push_back(n);
  md += "| calibration | windows |";
  for (const auto& [b, s] : first.kl_vs_full) md += fmt::format(" KL order {}-bit |", b);
  md += " cut-offs: layers changed (mean / max) |";
  for (const std::string& n : budgets) md += fmt::format(" {} |", n);
  md += "\n|---|---|";
  for (size_t k = 0; k < first.kl_vs_full.size() + 1 + budgets.size(); ++k) md += "---|";
  md += "\n";
  for (const RobustnessRow& r : rows) {
    md += fmt::format("| {} | {} |", row_label(r), r.windows);
    for (const auto& [b, s] : r.kl_vs_full) md += fmt::format(" {:.3f} ({:.2g}) |", s.tau_b, s.tau_p);
    double sum = 0;
    int64_t mx = 0, n = 0;
    std::map<std::string, int64_t> change;
    for (const auto& [name, c] : r.plan_changes) {
      change[name] = c;
      if (name.rfind("budget-", 0) == 0 || c < 0) continue;
      sum += double(c);
      mx = std::max(mx, c);
      ++n;
    }
    const int64_t layers = r.rank.empty() ? 0 : r.rank.front().n;
    md += n ? fmt::format(" {:.1f} / {} of {} |", sum / double(n), mx, layers) : std::string(" – |");
    for (const std::string& b : budgets) {
      const auto it = change.find(b);
      md += it == change.end() || it->second < 0 ? std::string(" – |") : fmt::format(" {} |", it->second);
    }
    md += "\n";
  }
  return md;
}

}  // namespace kllens
