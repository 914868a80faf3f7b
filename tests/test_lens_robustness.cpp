// Calibration robustness (`kllens robustness`, src/lens/robustness.cpp, docs/lens.md): a row
// worked out by hand (KL order agreement and the plans that change), then a tiny run on
// tiny-mamba with two fractions and an out-of-domain text: the structure of its output, the
// full set agreeing with itself (τ-b 1, no plan changed), --resume reusing every probe and
// writing the same files, and bad --fractions refused in one line with nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kllens/error.h"

#include "kllens/lens.h"
#include "support/cli.h"

namespace kllens {
namespace {

namespace fs = std::filesystem;

// Four layers a..d of 8×32, probed at 4 and 8 bits, KL as given (perplexity rises with KL).
SensitivityReport report(const std::vector<double>& kl4, const std::vector<double>& kl8) {
  SensitivityReport r;
  r.model = "hand";
  r.windows = 2;
  r.seqlen = 8;
  r.vocab = 16;
  r.bits = {4, 8};
  const char* names[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; ++i) r.layers.push_back({names[i], i, 8, 32});
  for (int i = 0; i < 4; ++i)
    for (int b : r.bits) {
      Probe p;
      p.layer = names[i];
      p.block = i;
      p.bits = b;
      p.m.kl_teacher_to_student = p.m.kl_student_to_teacher = p.m.mse = (b == 4 ? kl4 : kl8)[size_t(i)];
      p.m.sqnr_db = -p.m.mse;
      p.m.delta_cross_entropy = p.m.mse;
      p.m.top1_agreement = 1 - p.m.mse;
      r.probes.push_back(p);
    }
  return r;
}

TEST(Robustness, RowWorkedOutByHand) {
  SensitivityReport full = report({1, 2, 3, 4}, {0.1, 0.2, 0.3, 0.4});
  for (Probe& p : full.probes) p.m.perplexity = 100 + 10 * p.m.kl_teacher_to_student;
  SensitivityReport sub = report({2, 1, 3, 4}, {0.1, 0.2, 0.3, 0.4});  // a and b swapped at 4 bits
  attach_perplexity(sub, full);
  EXPECT_EQ(sub.find("a", 4)->m.perplexity, 110);
  RobustnessOptions opt;
  opt.points = 7;
  opt.budgets_bpw = {};
  const RobustnessRow row = robustness_row(full, sub, "f0.5", "subset", 0.5, opt);
  ASSERT_EQ(row.kl_vs_full.size(), 2u);
  // 4-bit: of the 6 pairs only (a, b) is discordant: S = 5 − 1, τ-a = τ-b = 4/6.
  EXPECT_EQ(row.kl_vs_full[0].first, 4);
  EXPECT_DOUBLE_EQ(row.kl_vs_full[0].second.tau_a, 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(row.kl_vs_full[1].second.tau_b, 1.0);
  // Merged lists (m = 8, 7 usable): full a8 b8 c8 d8 a4 b4 c4 d4, sub the same with b4 a4.
  // Plan k quantises the first k: only k = 5 differs (full a→q4, b q8; sub b→q4, a q8).
  ASSERT_EQ(row.plan_changes.size(), 7u);
  for (int k = 0; k < 7; ++k) {
    EXPECT_EQ(row.plan_changes[size_t(k)].first, fmt::format("p{:02d}", k + 1));
    EXPECT_EQ(row.plan_changes[size_t(k)].second, k == 4 ? 2 : 0) << k;
  }
  // The rank table ranks the subset's metrics against the full set's perplexities.
  ASSERT_EQ(row.rank.size(), 2u);
  EXPECT_DOUBLE_EQ(row.rank[0].rows[0].second.tau_a, 4.0 / 6.0);
}

TEST(Robustness, ProbeMissingFromTheFullSweepIsRefused) {
  SensitivityReport full = report({1, 2, 3, 4}, {0.1, 0.2, 0.3, 0.4});
  SensitivityReport sub = full;
  sub.probes[0].layer = "e";
  EXPECT_THROW(attach_perplexity(sub, full), Error);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Robustness, TinyRunOnTinyMamba) {
  const std::string dir = test::scratch_dir() + "/out";
  const std::string src = KLLENS_SOURCE_DIR;
  const std::string args = "robustness " + src + "/models/tiny-mamba --calib " + src +
                           "/data/brown-train-sample.txt --ood " + src + "/data/brown-fiction-sample.txt --eval " +
                           src + "/data/brown-test-sample.txt --samples 4 --seqlen 32 --eval-tokens 256 --ctx 64 "
                           "--fractions 0.5,1 --layers 'in_proj|out_proj' -o " + dir;
  const test::CliResult r = test::run_cli(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string first_json = slurp(dir + "/robustness.json");
  const auto j = nlohmann::json::parse(first_json);
  EXPECT_EQ(j["calibration"]["windows"], 4);
  EXPECT_EQ(j["eval"]["tokens"], 256);
  EXPECT_EQ(j["layers"], 16);
  const auto& rows = j["rows"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["name"], "f0.5");
  EXPECT_EQ(rows[0]["windows"], 2);
  EXPECT_EQ(rows[1]["name"], "f1");
  EXPECT_EQ(rows[1]["windows"], 4);
  EXPECT_EQ(rows[2]["kind"], "ood");
  EXPECT_EQ(rows[2]["windows"], 4);
  EXPECT_EQ(j["sweeps"]["f0.5"], "windows-2");
  for (const char* d : {"full", "windows-2", "ood"})
    EXPECT_TRUE(fs::exists(dir + "/" + d + "/sensitivity.json")) << d;
  EXPECT_EQ(nlohmann::json::parse(slurp(dir + "/windows-2/sensitivity.json"))["calibration"]["windows"], 2);
  for (const auto& row : rows)
    for (const char* b : {"4", "8"}) {
      const auto& kl = row["rank"][b]["metrics"]["kl_teacher_to_student"];
      EXPECT_TRUE(kl["kendall_tau_b"].is_number()) << row["name"] << " " << b;
      ASSERT_EQ(kl["kendall_tau_b_ci95"].size(), 2u);
      EXPECT_TRUE(row["rank"][b]["metrics"].contains("mse"));
      EXPECT_TRUE(row["rank"][b]["metrics"].contains("sqnr_db"));
      EXPECT_TRUE(row["kl_vs_full"][b]["kendall_tau_b"].is_number());
    }
  // The full set against itself: the same ordering, the same plans.
  for (const char* b : {"4", "8"}) EXPECT_EQ(rows[1]["kl_vs_full"][b]["kendall_tau_b"], 1.0) << b;
  ASSERT_EQ(rows[1]["plans_changed"].size(), 13u);  // p01..p10 and budgets 5, 6, 7 bpw
  for (const auto& [name, n] : rows[1]["plans_changed"].items()) EXPECT_EQ(n, 0) << name;
  EXPECT_TRUE(rows[0]["plans_changed"].contains("budget-6bpw"));
  const std::string md = slurp(dir + "/robustness.md");
  EXPECT_NE(md.find("| calibration | windows × tokens | bits |"), std::string::npos);
  EXPECT_NE(md.find("| out of domain | 4 × 32 | 8 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0.5 of the windows | 2 |"), std::string::npos) << md;

  // Resumed: every probe comes from its sweep folder, and the report is the same.
  const test::CliResult again = test::run_cli(args + " --resume");
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(slurp(dir + "/robustness.json"), first_json);
  EXPECT_EQ(slurp(dir + "/robustness.md"), md);
}

TEST(Robustness, BadFractionsAreRefusedBeforeAnythingRuns) {
  const std::string src = KLLENS_SOURCE_DIR;
  for (const char* bad : {"0,1", "0.5,1.5", "1,0.5", "0.5,0.5", "x", "0.5,"}) {
    const std::string dir = test::scratch_dir() + "/out";
    const test::CliResult r = test::run_cli("robustness " + src + "/models/tiny-mamba --calib " + src +
                                            "/data/brown-train-sample.txt --eval " + src +
                                            "/data/brown-test-sample.txt --fractions " + bad + " -o " + dir);
    test::expect_one_line_error(r, "--fractions");
    EXPECT_FALSE(fs::exists(dir)) << bad;
  }
}

}  // namespace
}  // namespace kllens
