// Plans on small synthetic reports with known optima: the knapsack front against brute
// force over every per-layer choice, the cut-off rules (last assignment wins, the most
// sensitive entry never quantised), the greedy pass with a scripted perplexity, plan JSON
// round trip, and rank statistics against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/lens.h"

namespace kllens {
namespace {

SensitivityReport synthetic(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  SensitivityReport r;
  r.bits = {4, 8};
  r.other_params = 1000;
  for (int i = 0; i < n; ++i) {
    const int64_t N = 32 * (1 + int64_t(rng() % 4)), K = 32 * (1 + int64_t(rng() % 3));
    r.layers.push_back({fmt::format("l{}", i), i, N, K});
    const double k8 = u(rng) * 1e-3;
    for (int b : r.bits) {
      Probe p;
      p.layer = r.layers.back().name;
      p.block = i;
      p.bits = b;
      p.m.kl_teacher_to_student = b == 8 ? k8 : k8 * (10 + 100 * u(rng));
      r.probes.push_back(p);
    }
  }
  return r;
}

TEST(LensAllocate, ParetoFrontMatchesBruteForce) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    const SensitivityReport r = synthetic(7, seed);
    const auto front = pareto_front(r, "kl_teacher_to_student");
    // Brute force over 3^7 plans: for a set of budgets, the best KL that fits.
    std::vector<std::pair<double, double>> all;  // bytes, kl
    const int n = int(r.layers.size());
    int combos = 1;
    for (int i = 0; i < n; ++i) combos *= 3;
    for (int c = 0; c < combos; ++c) {
      Plan p = uniform_plan(r, std::nullopt, "x");
      double kl = 0;
      for (int i = 0, x = c; i < n; ++i, x /= 3)
        if (x % 3) {
          const int b = x % 3 == 1 ? 8 : 4;
          p.choice[size_t(i)] = QuantSpec{b, 0};
          kl += r.find(r.layers[size_t(i)].name, b)->m.kl_teacher_to_student;
        }
      all.push_back({p.model_bytes(), kl});
    }
    for (const auto& [bytes, kl0] : all) {
      (void)kl0;
      double best = INFINITY;
      for (const auto& [b, kl] : all) if (b <= bytes) best = std::min(best, kl);
      const Plan got = budget_plan(front, bytes);
      EXPECT_LE(got.model_bytes(), bytes);
      EXPECT_NEAR(got.predicted_kl, best, 1e-15) << "seed " << seed << " budget " << bytes;
    }
    for (size_t k = 1; k < front.size(); ++k) {  // strictly better KL for more bytes
      EXPECT_GT(front[k].model_bytes(), front[k - 1].model_bytes());
      EXPECT_LT(front[k].predicted_kl, front[k - 1].predicted_kl);
    }
  }
}

TEST(LensAllocate, CutoffsFollowThePaper) {
  SensitivityReport r;
  r.bits = {4, 8};
  for (int i = 0; i < 3; ++i) r.layers.push_back({fmt::format("l{}", i), i, 64, 64});
  // Merged by KL: a@8 .1, b@8 .2, a@4 .3, c@8 .4, b@4 .5, c@4 .6  (6 entries, 5 usable)
  const std::vector<std::tuple<int, int, double>> kl = {{0, 8, .1}, {1, 8, .2}, {0, 4, .3},
                                                        {2, 8, .4}, {1, 4, .5}, {2, 4, .6}};
  for (auto [l, b, k] : kl) {
    Probe p;
    p.layer = fmt::format("l{}", l);
    p.bits = b;
    p.m.kl_teacher_to_student = k;
    r.probes.push_back(p);
  }
  const auto plans = cutoff_plans(r, 5, "kl_teacher_to_student");
  ASSERT_EQ(plans.size(), 5u);
  auto type = [](const Plan& p, int i) { return p.choice[size_t(i)] ? p.choice[size_t(i)]->name() : std::string("f16"); };
  EXPECT_EQ(type(plans[0], 0), "q8");  // cut 1: a@8
  EXPECT_EQ(type(plans[0], 1), "f16");
  EXPECT_EQ(type(plans[2], 0), "q4");  // cut 3: a@8, b@8, a@4 → a ends at 4 bits
  EXPECT_EQ(type(plans[2], 1), "q8");
  EXPECT_EQ(type(plans[4], 1), "q4");  // cut 5: everything but c@4
  EXPECT_EQ(type(plans[4], 2), "q8");  // the most sensitive entry (c@4) never applied
  EXPECT_NEAR(plans[4].predicted_kl, .3 + .5 + .4, 1e-12);
}

TEST(LensAllocate, GreedyKeepsWhatStaysWithinGamma) {
  SensitivityReport r = synthetic(4, 9);
  // Perplexity grows by 1% per 4-bit layer, 0.1% per 8-bit layer: γ = 1.025 admits two
  // 4-bit layers at most.
  auto measure = [](const Plan& p) {
    double ppl = 100;
    for (const auto& c : p.choice) if (c) ppl *= c->bits == 4 ? 1.01 : 1.001;
    return ppl;
  };
  const Plan g = greedy_plan(r, 1.025, "kl_teacher_to_student", measure, 100);
  int q4 = 0;
  for (const auto& c : g.choice) q4 += c && c->bits == 4;
  EXPECT_EQ(q4, 2);
  EXPECT_LE(g.perplexity, 102.5);
  const Plan back = Plan::from_json(g.to_json());
  EXPECT_EQ(back.choice, g.choice);
  EXPECT_DOUBLE_EQ(back.model_bytes(), g.model_bytes());
}

TEST(LensRank, KendallAndSpearmanByHand) {
  // x = 1 2 3 4 5, y = 1 3 2 5 4: S = 10 − 2·2 = 6, τ = 0.6; ρ = 1 − 6·4/(5·24) = 0.8.
  const RankStats s = rank_stats({1, 2, 3, 4, 5}, {1, 3, 2, 5, 4});
  EXPECT_DOUBLE_EQ(s.tau_a, 0.6);
  EXPECT_DOUBLE_EQ(s.tau_b, 0.6);
  EXPECT_NEAR(s.rho, 0.8, 1e-15);
  // Var S = n(n−1)(2n+5)/18 = 50/3 without ties: p = erfc(|S|/√Var / √2) = 0.14164.
  // Spearman: t = ρ√(3/(1−ρ²)) = 2.3094 with 3 degrees of freedom: p = 0.10409.
  EXPECT_NEAR(s.tau_p, std::erfc(6 / std::sqrt(50.0 / 3) / std::sqrt(2.0)), 1e-15);
  EXPECT_NEAR(s.rho_p, 0.10409, 5e-5);
  // Ties: x = 1 1 2 2, y = 1 2 3 4: S = 4, n0 = 6, n1 = 2: τ-a = 2/3, τ-b = 4/√(4·6).
  const RankStats t = rank_stats({1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(t.tau_a, 4.0 / 6);
  EXPECT_NEAR(t.tau_b, 4 / std::sqrt(24.0), 1e-15);
}

TEST(LensAllocate, ProbeOnlyWidthsNeverEnterAPlan) {
  // The same report plus INT2 and INT3 probes with the smallest KL of all: no cut-off, greedy
  // or budget plan may pick them (they have no storage type), and the plans stay as before.
  const SensitivityReport r = synthetic(6, 11);
  SensitivityReport r2 = r;
  r2.bits = {2, 3, 4, 8};
  for (const LayerInfo& l : r.layers)
    for (int b : {2, 3}) {
      Probe p;
      p.layer = l.name;
      p.block = l.block;
      p.bits = b;
      p.m.kl_teacher_to_student = 1e-12 * b;
      r2.probes.push_back(p);
    }
  for (const Probe* p : merged_by(r2, "kl_teacher_to_student")) EXPECT_TRUE(p->bits == 4 || p->bits == 8);
  const auto a = cutoff_plans(r, 5, "kl_teacher_to_student"), b = cutoff_plans(r2, 5, "kl_teacher_to_student");
  for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k].choice, b[k].choice) << k;
  const auto fa = pareto_front(r, "kl_teacher_to_student"), fb = pareto_front(r2, "kl_teacher_to_student");
  ASSERT_EQ(fa.size(), fb.size());
  for (size_t k = 0; k < fa.size(); ++k) EXPECT_EQ(fa[k].choice, fb[k].choice) << k;
  const Plan g = greedy_plan(r2, 1.1, "kl_teacher_to_student", [](const Plan&) { return 1.0; }, 1.0);
  for (const auto& c : g.choice) EXPECT_TRUE(c && c->storable());
}

}  // namespace
}  // namespace kllens
