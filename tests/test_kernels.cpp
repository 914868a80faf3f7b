// Every checker case (check::all_cases(), the list `kllens check-kernels` and the benchmarks
// run) as one test: the CPU's scalar reference tier, its AVX2 tier, its AVX-512 VNNI tier (where
// the CPU has it) and — where a Vulkan
// driver is installed — Vulkan with the validation layer on, every pair compared against
// the case's bound (reference vs AVX2, reference vs Vulkan, AVX2 vs Vulkan). Each case
// states its bound and why (src/check/cases_*.cpp); cases with launches > 1 check the
// state carried between calls.
//
// Runs as one process (CMakeLists.txt): the cases' inputs and the validated Vulkan device
// are made once.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "kllens/backend.h"
#include "kllens/check.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"
#include "support/vulkan_pair.h"
#endif

namespace kllens {
namespace {

const std::vector<check::OpCase>& cases() {
  static const std::vector<check::OpCase> all = check::all_cases();
  return all;
}

// The reference tier first: run_case compares every later backend with every earlier one.
std::vector<Backend*> backends() {
  static std::unique_ptr<Backend> ref = make_cpu_backend(CpuTier::reference);
  static std::unique_ptr<Backend> avx2 =
      cpu_tier_supported(CpuTier::avx2) ? make_cpu_backend(CpuTier::avx2) : nullptr;
  static std::unique_ptr<Backend> avx512 =
      cpu_tier_supported(CpuTier::avx512) ? make_cpu_backend(CpuTier::avx512) : nullptr;
  std::vector<Backend*> b{ref.get()};
  if (avx2) b.push_back(avx2.get());
  if (avx512) b.push_back(avx512.get());
#ifdef KLLENS_HAVE_VULKAN
  if (Backend* vk = test::vulkan()) b.push_back(vk);
#endif
  return b;
}

class Kernels : public ::testing::TestWithParam<size_t> {};

TEST_P(Kernels, EveryTierMatchesTheReference) {
  const check::OpCase& c = cases()[GetParam()];
  const std::vector<Backend*> be = backends();
  if (be.size() < 2) GTEST_SKIP() << "only the reference tier runs here (no AVX2, no Vulkan)";
  const check::CaseResult r = check::run_case(c, be);
  ASSERT_TRUE(r.error.empty()) << c.op << " " << c.params << ": " << r.error;
  for (const check::PairCheck& p : r.pairs) {
    const std::string at = p.first_over();
    std::printf("    %-14s vs %-14s nmse %.2e  max_rel %.2e  (≤ %.0e)%s%s\n", p.ref.c_str(), p.test.c_str(),
                p.nmse, p.max_rel, c.max_nmse, at.empty() ? "" : "  first over its share: ", at.c_str());
    std::string worst;
    for (const check::OutputCheck& o : p.outputs)
      if (!o.cmp.ok(c.max_nmse)) worst += o.name + ", worst:\n" + o.cmp.worst;
    EXPECT_TRUE(p.ok) << c.op << " " << c.params << ", " << p.test << " against " << p.ref
                      << " (bound " << c.max_nmse << ": " << c.why << "):" << p.summary() << "\n"
                      << worst;
  }
#ifdef KLLENS_HAVE_VULKAN
  if (test::vulkan()) {
    EXPECT_EQ(vulkan_validation_messages(*test::vulkan()), 0);
  }
#endif
}

// The compare locates a failure: max-rel error and the first element over the bound, by
// its multi-dimensional index, as check-kernels and the test above print them.
TEST(KernelCompare, ReportsMaxRelAndTheFirstMismatchingIndex) {
  std::vector<double> ref(12), got(12);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = got[i] = 1.0 + double(i);
  got[6] = 7.5;   // [1,2] of [3, 4]: the first over the bound
  got[11] = 12.5;  // [2,3]
  check::PairCheck p;
  p.outputs.push_back({"out", check::compare(ref, got, {3, 4}, 1e-7, false), true});
  const check::Comparison& c = p.outputs[0].cmp;
  EXPECT_EQ(c.over, 2);
  EXPECT_EQ(c.first_over, 6);
  EXPECT_NEAR(c.max_rel, 0.5 / 7.0, 1e-12);
  EXPECT_EQ(p.first_over(), "out[1,2] ref=7 got=7.5");
  EXPECT_FALSE(c.ok(1e-7));
}

INSTANTIATE_TEST_SUITE_P(All, Kernels, ::testing::Range<size_t>(0, cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& p) {
                           return cases()[p.param].op + "_" + std::to_string(p.param);
                         });

}  // namespace
}  // namespace kllens
