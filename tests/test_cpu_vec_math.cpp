// Accuracy of the AVX2 tier's vector exp, softplus and silu against float64 libm,
// over the domains the kernels feed them: Δ·A ∈ [−50, 0] in the scan, all of fp32's
// exp range, raw Δ for softplus, pre-activations for silu.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/vec_math.h"

namespace kllens {
namespace {

// Distance in units in the last place of `want` (rounded from float64).
double ulps(float got, double want) {
  const float w = float(want);
  if (got == w) return 0;
  if (std::isinf(w) || std::isinf(got)) return std::isinf(w) && w == got ? 0 : 1e9;
  const float ulp = std::nextafter(std::abs(w), INFINITY) - std::abs(w);
  return std::abs(double(got) - want) / double(ulp);
}

struct Stats { double max_ulp = 0; float worst_x = 0; };

template <typename Vec, typename Ref>
Stats measure(float lo, float hi, int64_t n, Vec vec, Ref ref) {
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = lo + (hi - lo) * float(i) / float(n - 1);
  vec(x.data(), y.data(), n);
  Stats s;
  for (int64_t i = 0; i < n; ++i) {
    const double u = ulps(y[size_t(i)], ref(double(x[size_t(i)])));
    if (u > s.max_ulp) s = {u, x[size_t(i)]};
  }
  std::printf("  [%g, %g]: max %.2f ulp at x = %.9g\n", lo, hi, s.max_ulp, s.worst_x);
  return s;
}

class VecMath : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  }
};

// The scan multiplies up to thousands of exp(Δ·A) factors into its state; 2 ulp keeps
// each factor within 2.4e-7 relative, the same order as libm's correctly rounded expf.
TEST_F(VecMath, ExpWithinTwoUlp) {
  auto e = [](double v) { return std::exp(v); };
  for (auto [lo, hi] : {std::pair{-50.0f, 0.0f}, {-87.3f, 88.7f}, {-1.0f, 1.0f}}) {
    const Stats s = measure(lo, hi, 2'000'003, cpu::vec_exp_avx2, e);
    EXPECT_LE(s.max_ulp, 2.0) << "[" << lo << ", " << hi << "] worst at x=" << s.worst_x;
  }
}

TEST_F(VecMath, ExpEdges) {
  const float x[8] = {-200.0f, -103.0f, 88.8f, 200.0f, NAN, 0.0f, -0.0f, 88.72f};
  float y[8];
  cpu::vec_exp_avx2(x, y, 8);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_GE(y[1], 0.0f);
  EXPECT_LT(y[1], 1e-44f);  // deep in the denormals
  EXPECT_TRUE(std::isinf(y[2]));
  EXPECT_TRUE(std::isinf(y[3]));
  EXPECT_TRUE(std::isnan(y[4]));
  EXPECT_EQ(y[5], 1.0f);
  EXPECT_EQ(y[6], 1.0f);
  EXPECT_TRUE(std::isfinite(y[7]));
  EXPECT_LE(ulps(y[7], std::exp(double(x[7]))), 2.0);
}

// torch: x > 20 ? x : log1p(exp(x)). The log1p correction keeps small results (large
// negative x) relative-accurate, so the bound holds from −80 up.
TEST_F(VecMath, SoftplusWithinFourUlp) {
  auto sp = [](double v) { return v > 20.0 ? v : std::log1p(std::exp(v)); };
  for (auto [lo, hi] : {std::pair{-4.0f, 2.0f}, {-80.0f, 30.0f}}) {
    const Stats s = measure(lo, hi, 1'000'003, cpu::vec_softplus_avx2, sp);
    EXPECT_LE(s.max_ulp, 4.0) << "[" << lo << ", " << hi << "] worst at x=" << s.worst_x;
  }
}

TEST_F(VecMath, SiluWithinFourUlp) {
  auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
  const Stats s = measure(-80.0f, 80.0f, 1'000'003, cpu::vec_silu_avx2, silu);
  EXPECT_LE(s.max_ulp, 4.0) << "worst at x=" << s.worst_x;
}

}  // namespace
}  // namespace kllens
