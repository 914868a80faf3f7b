// The lens at scale (docs/scale.md) and its error bars: which probes a shard runs, the
// bootstrap intervals, results in the paper's layout ranked with a τ computed by hand, and
// a sweep over two devices at once (CPU + Vulkan on lavapipe) against single-device sweeps.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <cstdlib>
#include <map>

#include <nlohmann/json.hpp>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/lens.h"
#include "support/cli.h"
#include "support/compare.h"

namespace kllens {
namespace {

TEST(Shards, LongestProcessingTimeFirst) {
  // Costs 5,1,1,3,2 over 2 shards, by hand: 5→s0; 3→s1; 2→s1 (3 < 5); the first 1→s0 (5 = 5,
  // lowest index); the second 1→s1 (6 = 6). Loads 6 and 6.
  EXPECT_EQ(shard_owners({5, 1, 1, 3, 2}, 2), (std::vector<int>{0, 0, 1, 1, 1}));
  EXPECT_EQ(shard_owners({5, 1, 1, 3, 2}, 1), (std::vector<int>(5, 0)));
  // More shards than probes: each probe alone, the rest empty.
  EXPECT_EQ(shard_owners({1, 1}, 4), (std::vector<int>{0, 1}));
}

TEST(Shards, SpecIsChecked) {
  EXPECT_EQ(ShardSpec::parse("3/4").index, 3);
  EXPECT_EQ(ShardSpec::parse("3/4").count, 4);
  for (const char* bad : {"4/4", "-1/2", "1/0", "a/2", "1/", "/2", "1", "1/2/3", " 1/2"})
    EXPECT_THROW(ShardSpec::parse(bad), Error) << bad;
}

TEST(Bootstrap, PerfectOrderHasAPointIntervalAndDrawsAreReproducible) {
  RankTable t;
  t.bits = 4;
  std::vector<double> ppl, same, noisy;
  for (int i = 0; i < 12; ++i) {
    ppl.push_back(10 + i);
    same.push_back(i * 0.1);
    noisy.push_back(std::fmod(i * 7.0, 12.0));  // a permutation of 0..11
  }
  t.rows = {{"kl_teacher_to_student", rank_stats(same, ppl)}, {"mse", rank_stats(noisy, ppl)}};
  RankTable u = t;
  bootstrap_rank_table(t, {same, noisy}, ppl, {});
  bootstrap_rank_table(u, {same, noisy}, ppl, {});
  EXPECT_EQ(t.rows[0].second.tau_b_ci.lo, 1.0);
  EXPECT_EQ(t.rows[0].second.tau_b_ci.hi, 1.0);
  EXPECT_EQ(t.rows[0].second.rho_ci.lo, 1.0);
  const Interval& n = t.rows[1].second.tau_b_ci;
  EXPECT_LT(n.lo, t.rows[1].second.tau_b);
  EXPECT_GT(n.hi, t.rows[1].second.tau_b);
  EXPECT_EQ(n.lo, u.rows[1].second.tau_b_ci.lo);  // same seed, same draws
  EXPECT_EQ(n.hi, u.rows[1].second.tau_b_ci.hi);
  ASSERT_EQ(t.tau_diff.size(), 1u);
  EXPECT_EQ(t.tau_diff[0].other, "mse");
  EXPECT_DOUBLE_EQ(t.tau_diff[0].diff, 1.0 - t.rows[1].second.tau_b);
  RankTable v = t;
  bootstrap_rank_table(v, {same, noisy}, ppl, {2000, 99});  // another seed, other draws
  EXPECT_NE(v.rows[1].second.tau_b_ci.lo + v.rows[1].second.tau_b_ci.hi, n.lo + n.hi);
}

// A hand-made file in the paper's layout, 4 layers. Against perplexity 10, 11, 12, 13:
//   kl_teacher_to_student 0.1, 0.3, 0.2, 0.4: of the 6 pairs only (2,3) is discordant, so
//     S = 5 − 1 = 4, τ-a = τ-b = 4/6 = 0.666…;
//   delta_cross_entropy 0.01, 0.02, 0.02, 0.03: (2,3) is tied in x, the other 5 concordant,
//     S = 5, τ-a = 5/6, τ-b = 5 / √((6 − 1)(6 − 0)) = 5/√30 = 0.912870929…;
//   kl_student_to_teacher −0.5, …: negative, which no KL can be (a warning, still ranked).
TEST(PaperLayout, RankReproducesTauByHand) {
  const std::string dir = test::scratch_dir();
  const std::string file = dir + "/int4.json";
  std::ofstream(file) << R"({
    "backbone.layers.0.mixer.in_proj": {"perplexity": 10, "sqnr_db": 30, "kl_teacher_to_student": 0.1,
      "kl_student_to_teacher": -0.5, "delta_cross_entropy": 0.01},
    "backbone.layers.0.mixer.out_proj": {"perplexity": 11, "sqnr_db": 20, "kl_teacher_to_student": 0.3,
      "kl_student_to_teacher": 0.1, "delta_cross_entropy": 0.02},
    "backbone.layers.1.mixer.in_proj": {"perplexity": 12, "sqnr_db": 25, "kl_teacher_to_student": 0.2,
      "kl_student_to_teacher": 0.2, "delta_cross_entropy": 0.02},
    "backbone.layers.1.mixer.out_proj": {"perplexity": 13, "sqnr_db": 10, "kl_teacher_to_student": 0.4,
      "kl_student_to_teacher": 0.3, "delta_cross_entropy": 0.03}})";
  const auto r = test::run_cli("rank --paper 4=" + file + " -o " + dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("kl_student_to_teacher: 1 of 4 values are not a KL divergence (1 negative"),
            std::string::npos) << r.err;
  const auto j = nlohmann::json::parse(read_file(dir + "/rank.json"));
  const auto& m = j["4"]["metrics"];
  EXPECT_NEAR(m["kl_teacher_to_student"]["kendall_tau_a"].get<double>(), 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(m["kl_teacher_to_student"]["kendall_tau_b"].get<double>(), 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(m["delta_cross_entropy"]["kendall_tau_a"].get<double>(), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(m["delta_cross_entropy"]["kendall_tau_b"].get<double>(), 5.0 / std::sqrt(30.0), 1e-12);
  EXPECT_FALSE(m.contains("mse"));  // not in the file: left out, not ranked as zeros
  EXPECT_EQ(m["kl_teacher_to_student"]["kendall_tau_b_ci95"].size(), 2u);
  // The same file planned: the paper's cut-offs need no layer shapes.
  const auto a = test::run_cli("allocate --paper 4=" + file + " --method cutoffs --points 2 -o " + dir + "/plan.json");
  ASSERT_EQ(a.status, 0) << a.err;
  const auto budget = test::run_cli("allocate --paper 4=" + file + " --method budget --budget-mb 1 -o " + dir + "/b.json");
  EXPECT_NE(budget.status, 0);
  EXPECT_NE(budget.err.find("--model"), std::string::npos) << budget.err;
}

// fixtures/README.md's tolerance for lens metrics (the checker's, for one probe on two
// tiers): relative 1e-3, or absolute 1e-7 below 1e-4.
bool within(double ref, double got) {
  const double d = std::fabs(got - ref);
  return d <= 1e-3 * std::fabs(ref) || (std::fabs(ref) < 1e-4 && d <= 1e-7);
}

TEST(SeveralDevices, CpuAndVulkanSweepMatchesSingleDeviceSweeps) {
  const std::string fx = test::shared_path("fixtures/tiny-mamba");
  const std::string args = "sensitivity " + fx + " --calib-ids " + fx +
                           "/reference.safetensors --layers 'in_proj|out_proj' -o ";
  const std::string cpu = test::scratch_dir(), vk = test::scratch_dir(), both = test::scratch_dir();
  ASSERT_EQ(test::run_cli(args + cpu + " --backend cpu").status, 0);
  setenv("KLLENS_VULKAN_VALIDATION", "1", 1);  // the Khronos layer on: any message is a failure
  const auto rv = test::run_cli(args + vk + " --backend vulkan");
  ASSERT_EQ(rv.status, 0) << rv.err;
  if (rv.err.find("no usable Vulkan device") != std::string::npos) GTEST_SKIP() << rv.err;
  const auto rb = test::run_cli(args + both + " --backend cpu,vulkan");
  ASSERT_EQ(rb.status, 0) << rb.err;
  unsetenv("KLLENS_VULKAN_VALIDATION");
  for (const std::string* err : {&rv.err, &rb.err})
    EXPECT_EQ(err->find("vulkan validation"), std::string::npos) << *err;
  const auto jc = nlohmann::json::parse(read_file(cpu + "/sensitivity.json"));
  const auto jv = nlohmann::json::parse(read_file(vk + "/sensitivity.json"));
  const auto jb = nlohmann::json::parse(read_file(both + "/sensitivity.json"));
  const std::string cpu_name = jc["4"].begin().value()["backend"], vk_name = jv["4"].begin().value()["backend"];
  std::map<std::string, int> ran;
  int probes = 0;
  for (const char* bits : {"4", "8"})
    for (const auto& [layer, e] : jb[bits].items()) {
      const std::string who = e["backend"];
      ASSERT_TRUE(who == cpu_name || who == vk_name) << layer << " ran on '" << who << "'";
      ++ran[who];
      ++probes;
      const auto& single = (who == cpu_name ? jc : jv)[bits][layer];
      const auto& other = (who == cpu_name ? jv : jc)[bits][layer];
      for (const char* m : {"kl_teacher_to_student", "kl_student_to_teacher", "mse", "sqnr_db",
                            "delta_cross_entropy", "top1_agreement"}) {
        // The device that ran it reproduces its own single-device value within the
        // checker's tolerance, and so does the other device, except that ΔCE across
        // devices gets an absolute floor of 1e-6: it is the difference of two fp32
        // cross-entropies of ≈ 5.4 nats (ulp 4.8e-7 each), summed in another order on the
        // other device, so its cross-device error is ~1e-7 whatever its size (measured:
        // up to 1.5e-7 on values of 1e-5).
        const double got = e[m].get<double>(), own = single[m].get<double>(), alt = other[m].get<double>();
        EXPECT_TRUE(within(own, got)) << layer << "@" << bits << " " << m << ": " << own << " vs " << got;
        const bool dce = std::string(m) == "delta_cross_entropy";
        EXPECT_TRUE(within(alt, got) || (dce && std::fabs(alt - got) <= 1e-6))
            << layer << "@" << bits << " " << m << ": " << alt << " vs " << got;
      }
    }
  EXPECT_EQ(probes, 32);
  std::string counts;
  for (const auto& [who, n] : ran) counts += who + ": " + std::to_string(n) + "  ";
  std::printf("probes per device: %s\n", counts.c_str());
}

}  // namespace
}  // namespace kllens
