// Kendall τ-a / τ-b and Spearman ρ of every lens metric against perplexity (see lens.h).
// O(n²) pair loops: n is the number of linear layers (hundreds at most).
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/lens.h"

namespace kllens {

namespace {

int sgn(double v) { return (v > 0) - (v < 0); }

// Regularised incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes'
// betacf), for the Student-t tail.
double betacf(double a, double b, double x) {
  const double eps = 1e-15, fpmin = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < fpmin) d = fpmin;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (std::fabs(d) < fpmin) d = fpmin;
    c = 1 + aa / c; if (std::fabs(c) < fpmin) c = fpmin;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (std::fabs(d) < fpmin) d = fpmin;
    c = 1 + aa / c; if (std::fabs(c) < fpmin) c = fpmin;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < eps) break;
  }
  return h;
}

double inc_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double lbt = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                     b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return std::exp(lbt) * betacf(a, b, x) / a;
  return 1 - std::exp(lbt) * betacf(b, a, 1 - x) / b;
}

// Average ranks (1-based), ties share their mean rank.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = (double(i + j) / 2) + 1;
    i = j + 1;
  }
  return r;
}

// Σ over tie groups of f(t) (t = group size).
template <typename F> double tie_sum(const std::vector<double>& v, F f) {
  std::map<double, int64_t> groups;
  for (double x : v) ++groups[x];
  double s = 0;
  for (auto& [x, t] : groups) s += f(double(t));
  return s;
}

}  // namespace

RankStats rank_stats(const std::vector<double>& x, const std::vector<double>& y) {
  KL_CHECK(x.size() == y.size(), "rank_stats: {} vs {} values", x.size(), y.size());
  RankStats r;
  const int64_t n = int64_t(x.size());
  r.n = n;
  if (n < 2) return r;
  double S = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) S += sgn(x[size_t(i)] - x[size_t(j)]) * sgn(y[size_t(i)] - y[size_t(j)]);
  const double dn = double(n), n0 = dn * (dn - 1) / 2;
  r.tau_a = S / n0;
  const double n1 = tie_sum(x, [](double t) { return t * (t - 1) / 2; });
  const double n2 = tie_sum(y, [](double t) { return t * (t - 1) / 2; });
  if (n0 > n1 && n0 > n2) r.tau_b = S / std::sqrt((n0 - n1) * (n0 - n2));
  // Variance of S under independence with ties (Kendall 1970).
  const double v0 = dn * (dn - 1) * (2 * dn + 5);
  const double vt = tie_sum(x, [](double t) { return t * (t - 1) * (2 * t + 5); });
  const double vu = tie_sum(y, [](double t) { return t * (t - 1) * (2 * t + 5); });
  const double v1 = tie_sum(x, [](double t) { return t * (t - 1); }) *
                    tie_sum(y, [](double t) { return t * (t - 1); }) / (2 * dn * (dn - 1));
  const double v2 = n > 2 ? tie_sum(x, [](double t) { return t * (t - 1) * (t - 2); }) *
                                tie_sum(y, [](double t) { return t * (t - 1) * (t - 2); }) /
                                (9 * dn * (dn - 1) * (dn - 2))
                          : 0;
  const double var = (v0 - vt - vu) / 18 + v1 + v2;
  if (var > 0) r.tau_p = std::erfc(std::fabs(S) / std::sqrt(var) / std::sqrt(2.0));
  // Spearman.
  const auto rx = ranks(x), ry = ranks(y);
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / dn;
  const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / dn;
  double sxy = 0, sxx = 0, syy = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = rx[size_t(i)] - mx, b = ry[size_t(i)] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (sxx > 0 && syy > 0) {
    r.rho = sxy / std::sqrt(sxx * syy);
    const double df = dn - 2;
    if (df > 0) {
      if (std::fabs(r.rho) >= 1) {
        r.rho_p = 0;
      } else {
        const double t2 = r.rho * r.rho * df / (1 - r.rho * r.rho);
        r.rho_p = inc_beta(df / 2, 0.5, df / (df + t2));
      }
    }
  }
  return r;
}

const std::vector<MetricInfo>& lens_metrics() {
  static const std::vector<MetricInfo> m = {
      {"kl_student_to_teacher", false}, {"kl_teacher_to_student", false}, {"mse", false},
      {"sqnr_db", true}, {"delta_cross_entropy", false}, {"top1_agreement", true}};
  return m;
}

double metric_value(const ProbeMetrics& m, const std::string& name) {
  if (name == "kl_student_to_teacher") return m.kl_student_to_teacher;
  if (name == "kl_teacher_to_student") return m.kl_teacher_to_student;
  if (name == "mse") return m.mse;
  if (name == "sqnr_db") return m.sqnr_db;
  if (name == "delta_cross_entropy") return m.delta_cross_entropy;
  if (name == "top1_agreement") return m.top1_agreement;
  if (name == "perplexity") return m.perplexity;
  fail("unknown metric '{}'", name);
}

std::vector<RankTable> rank_report(const SensitivityReport& r, const BootstrapOptions& bopt) {
  std::vector<RankTable> out;
  for (int b : r.bits) {
    std::vector<const Probe*> ps;
    for (const Probe& p : r.probes)
      if (p.bits == b) {
        if (!std::isfinite(p.m.perplexity))
          fail("probe {} has no perplexity: run the sweep with --ppl-text", p.key());
        ps.push_back(&p);
      }
    RankTable t;
    t.bits = b;
    t.n = int64_t(ps.size());
    std::vector<double> ppl;
    for (const Probe* p : ps) ppl.push_back(p->m.perplexity);
    std::vector<std::vector<double>> values;
    for (const MetricInfo& mi : lens_metrics()) {
      std::vector<double> v;
      for (const Probe* p : ps) v.push_back((mi.negate ? -1 : 1) * metric_value(p->m, mi.name));
      if (std::any_of(v.begin(), v.end(), [](double d) { return !std::isfinite(d); })) continue;
      t.rows.emplace_back(mi.name, rank_stats(v, ppl));
      values.push_back(std::move(v));
    }
    bootstrap_rank_table(t, values, ppl, bopt);
    out.push_back(std::move(t));
  }
  return out;
}

nlohmann::ordered_json rank_json(const std::vector<RankTable>& tables) {
  auto num = [](double x) { return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr); };
  nlohmann::ordered_json j;
  j["against"] = "perplexity";
  j["orientation"] = "sqnr_db and top1_agreement negated: +1 = orders layers exactly by damage";
  for (const RankTable& t : tables) {
    auto& e = j[std::to_string(t.bits)];
    e["layers"] = t.n;
    auto ci = [&](const Interval& i) { return nlohmann::ordered_json::array({num(i.lo), num(i.hi)}); };
    for (const auto& [name, s] : t.rows)
      e["metrics"][name] = {{"kendall_tau_a", num(s.tau_a)}, {"kendall_tau_b", num(s.tau_b)},
                            {"kendall_tau_b_ci95", ci(s.tau_b_ci)}, {"kendall_p", num(s.tau_p)},
                            {"spearman_rho", num(s.rho)}, {"spearman_rho_ci95", ci(s.rho_ci)},
                            {"spearman_p", num(s.rho_p)}};
    for (const TauDifference& d : t.tau_diff)
      e["kl_tau_b_minus"][d.other] = {{"difference", num(d.diff)}, {"ci95", ci(d.ci)},
                                      {"significant", d.ci.excludes_zero()}};
  }
  return j;
}

std::string rank_text(const std::vector<RankTable>& tables) {
  std::string s;
  for (const RankTable& t : tables) {
    s += fmt::format("{}-bit probes, {} layers, each metric against perplexity (+1 = orders by damage)\n",
                     t.bits, t.n);
    s += fmt::format("  {:<24} {:>8} {:>8} {:>17} {:>10} {:>8} {:>17} {:>10}\n", "metric", "tau-a", "tau-b",
                     "95% CI", "p(tau-b)", "rho", "95% CI", "p(rho)");
    for (const auto& [name, r] : t.rows)
      s += fmt::format("  {:<24} {:>8.4f} {:>8.4f} [{:>7.3f},{:>7.3f}] {:>10.3g} {:>8.4f} [{:>7.3f},{:>7.3f}] {:>10.3g}\n",
                       name, r.tau_a, r.tau_b, r.tau_b_ci.lo, r.tau_b_ci.hi, r.tau_p, r.rho, r.rho_ci.lo,
                       r.rho_ci.hi, r.rho_p);
    for (const TauDifference& d : t.tau_diff)
      s += fmt::format("  tau-b(KL) - tau-b({}) = {:.4f}, 95% CI [{:.3f}, {:.3f}]{}\n", d.other, d.diff, d.ci.lo,
                       d.ci.hi, d.ci.excludes_zero() ? " (significant)" : "");
  }
  return s;
}

std::string rank_verdict(const std::vector<RankTable>& tables, int64_t eval_tokens) {
  std::string s;
  for (const RankTable& t : tables) {
    const std::pair<std::string, RankStats>* best = nullptr;
    for (const auto& row : t.rows)
      if (std::isfinite(row.second.tau_b) && (!best || row.second.tau_b > best->second.tau_b)) best = &row;
    if (!best) {
      s += fmt::format("- **{}-bit**: no metric varies across the {} layers; nothing to rank.\n", t.bits, t.n);
      continue;
    }
    auto significant = [](const RankStats& r) { return r.tau_p < 0.05 && r.tau_b_ci.lo > 0; };
    std::vector<std::string> sig;
    for (const auto& [name, r] : t.rows)
      if (significant(r)) sig.push_back(name);
    const RankStats& b = best->second;
    if (sig.empty()) {
      s += fmt::format(
          "- **{}-bit**: **no metric orders the {} layers by damage significantly** (best: {}, "
          "τ-b {:.3f}, 95% CI [{:.3f}, {:.3f}], p {:.2g}). The single-layer perplexity changes are "
          "too small for {} to resolve: measure perplexity on more tokens (--eval-tokens) and use "
          "more calibration windows (--samples){}.\n",
          t.bits, t.n, best->first, b.tau_b, b.tau_b_ci.lo, b.tau_b_ci.hi, b.tau_p,
          eval_tokens > 0 ? fmt::format("{} eval tokens", eval_tokens) : std::string("the eval text"),
          t.bits > 4   ? "; the 4-bit probes, whose damage is larger, resolve sooner"
          : t.bits > 2 ? "; lower widths (--bits 2,3: probe-only fake quantisation), whose damage is "
                         "larger, resolve sooner"
                       : "");
      continue;
    }
    s += fmt::format("- **{}-bit**: **{} orders the {} layers best** (τ-b {:.3f}, 95% CI [{:.3f}, {:.3f}], p {:.2g}){}. "
                     "Significant (p < 0.05, interval above 0): {}.",
                     t.bits, best->first, t.n, b.tau_b, b.tau_b_ci.lo, b.tau_b_ci.hi, b.tau_p,
                     significant(b) ? "" : ", though not significantly", fmt::join(sig, ", "));
    std::vector<std::string> kl_wins, kl_loses, unresolved;
    for (const TauDifference& d : t.tau_diff) {
      if (d.ci.excludes_zero()) (d.diff > 0 ? kl_wins : kl_loses).push_back(d.other);
      else unresolved.push_back(d.other);
    }
    if (!t.tau_diff.empty()) {
      s += " KL(teacher‖student) against the others (paired bootstrap of τ-b):";
      if (!kl_wins.empty()) s += fmt::format(" better than {};", fmt::join(kl_wins, ", "));
      if (!kl_loses.empty()) s += fmt::format(" worse than {};", fmt::join(kl_loses, ", "));
      if (!unresolved.empty()) s += fmt::format(" not distinguishable from {}.", fmt::join(unresolved, ", "));
    }
    s += "\n";
  }
  return s;
}

}  // namespace kllens
