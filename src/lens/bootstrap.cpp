// Bootstrap intervals for the rank agreement of the lens metrics (include/kllens/lens.h).
//
// One bootstrap draw resamples the layers of a bit width with replacement (n of n); every
// metric is ranked on the same draw, so a difference of two metrics' τ-b is paired. The
// 95% interval is the 2.5th–97.5th percentile of the draws (the percentile method).
// Draws come from std::mt19937_64 seeded with BootstrapOptions::seed and the bit width,
// reduced with a modulo (portable, unlike std::uniform_int_distribution), so a report is
// reproducible on every platform. Spearman's ρ of a draw is the Pearson correlation of
// its average ranks, computed with Eigen.
#include <algorithm>
#include <cmath>
#include <random>

#include <Eigen/Core>

#include "kllens/error.h"
#include "kllens/lens.h"

namespace kllens {

namespace {

int sgn(double v) { return (v > 0) - (v < 0); }

// τ-b of (x[idx], y[idx]); NaN when either side is constant.
double tau_b(const std::vector<double>& x, const std::vector<double>& y, const std::vector<size_t>& idx) {
  double s = 0, tx = 0, ty = 0, n0 = 0;
  for (size_t i = 0; i < idx.size(); ++i)
    for (size_t j = i + 1; j < idx.size(); ++j) {
      const int a = sgn(x[idx[i]] - x[idx[j]]), b = sgn(y[idx[i]] - y[idx[j]]);
      s += a * b;
      tx += a == 0;
      ty += b == 0;
      n0 += 1;
    }
  return n0 > tx && n0 > ty ? s / std::sqrt((n0 - tx) * (n0 - ty)) : NAN;
}

// Average ranks (1-based) of v[idx].
Eigen::VectorXd ranks_of(const std::vector<double>& v, const std::vector<size_t>& idx) {
  std::vector<size_t> order(idx.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[idx[a]] < v[idx[b]]; });
  Eigen::VectorXd r(Eigen::Index(idx.size()));
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[idx[order[j + 1]]] == v[idx[order[i]]]) ++j;
    for (size_t k = i; k <= j; ++k) r[Eigen::Index(order[k])] = double(i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y, const std::vector<size_t>& idx) {
  const Eigen::VectorXd rx = ranks_of(x, idx), ry = ranks_of(y, idx);
  const Eigen::VectorXd a = rx.array() - rx.mean(), b = ry.array() - ry.mean();
  const double den = std::sqrt(a.squaredNorm() * b.squaredNorm());
  return den > 0 ? a.dot(b) / den : NAN;
}

// The 2.5th and 97.5th percentiles of the finite draws (linear interpolation), NaN when
// fewer than half the draws are finite.
Interval percentile_interval(std::vector<double> v) {
  const size_t total = v.size();
  v.erase(std::remove_if(v.begin(), v.end(), [](double d) { return !std::isfinite(d); }), v.end());
  if (v.empty() || v.size() * 2 < total) return {};
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    const double pos = p * double(v.size() - 1);
    const size_t i = size_t(pos);
    const double f = pos - double(i);
    return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  return {q(0.025), q(0.975)};
}

}  // namespace

void bootstrap_rank_table(RankTable& t, const std::vector<std::vector<double>>& metric_values,
                          const std::vector<double>& ppl, const BootstrapOptions& opt) {
  KL_CHECK(metric_values.size() == t.rows.size(), "bootstrap: {} metrics for {} rows", metric_values.size(),
           t.rows.size());
  const size_t n = ppl.size(), m = t.rows.size();
  if (n < 3 || opt.resamples < 1) return;
  std::mt19937_64 rng(opt.seed ^ (uint64_t(t.bits) * 0x9E3779B97F4A7C15ull));
  std::vector<std::vector<double>> taus(m), rhos(m);
  std::vector<size_t> idx(n);
  for (int d = 0; d < opt.resamples; ++d) {
    for (size_t& i : idx) i = size_t(rng() % uint64_t(n));
    for (size_t k = 0; k < m; ++k) {
      taus[k].push_back(tau_b(metric_values[k], ppl, idx));
      rhos[k].push_back(spearman(metric_values[k], ppl, idx));
    }
  }
  for (size_t k = 0; k < m; ++k) {
    t.rows[k].second.tau_b_ci = percentile_interval(taus[k]);
    t.rows[k].second.rho_ci = percentile_interval(rhos[k]);
  }
  // Paired differences: τ-b of kl_teacher_to_student minus τ-b of every other metric.
  size_t kl = m;
  for (size_t k = 0; k < m; ++k)
    if (t.rows[k].first == "kl_teacher_to_student") kl = k;
  if (kl == m) return;
  t.tau_diff.clear();
  for (size_t k = 0; k < m; ++k) {
    if (k == kl) continue;
    std::vector<double> diff(taus[kl].size());
    for (size_t d = 0; d < diff.size(); ++d) diff[d] = taus[kl][d] - taus[k][d];
    TauDifference td;
    td.other = t.rows[k].first;
    td.diff = t.rows[kl].second.tau_b - t.rows[k].second.tau_b;
    td.ci = percentile_interval(diff);
    t.tau_diff.push_back(td);
  }
}

}  // namespace kllens
