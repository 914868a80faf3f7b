// rms_norm and add_rms_norm on the CPU: the AVX2 tier against the scalar reference over
// odd widths and strided rows, the reference against float64, and in-place use.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/rms_norm.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Case { int64_t n, H, pad; };
const Case kCases[] = {{1, 1, 0},  {1, 7, 3},    {3, 17, 0},   {7, 33, 5},
                       {17, 100, 0}, {2, 257, 2}, {5, 768, 0}, {33, 2048, 4}};

// Sum of H squares in a different order (16 lanes vs in order) and an FMA: the row scale
// differs by ~√H ulp at most, every output by that plus one rounding: NMSE ≲ 1e-12.
constexpr double kNmse = 1e-11;

TEST(CpuRmsNorm, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(11);
  for (const Case& c : kCases) {
    const Tensor x = test::random_f32(*be, rng, c.n, c.H, -3.0f, 3.0f, c.pad);
    const Tensor w = test::random_f32(*be, rng, 1, c.H, 0.0f, 2.0f).reshape({c.H});
    const Tensor ref = test::random_f32(*be, rng, c.n, c.H, 0.0f, 1.0f, c.pad);
    const Tensor got = test::clone(*be, ref);
    cpu::rms_norm_ref(x, w, 1e-5f, ref);
    be->rms_norm(x, w, 1e-5f, got);
    EXPECT_TRUE(close(test::to_host(*be, ref), test::to_host(*be, got), {c.n, c.H}, kNmse))
        << "n=" << c.n << " H=" << c.H;
  }
}

TEST(CpuAddRmsNorm, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(12);
  for (const Case& c : kCases) {
    const Tensor res_ref = test::random_f32(*be, rng, c.n, c.H, -3.0f, 3.0f, c.pad);
    const Tensor res_got = test::clone(*be, res_ref);
    const Tensor delta = test::random_f32(*be, rng, c.n, c.H, -1.0f, 1.0f, c.pad);
    const Tensor w = test::random_f32(*be, rng, 1, c.H, 0.0f, 2.0f).reshape({c.H});
    const Tensor ref = test::random_f32(*be, rng, c.n, c.H, 0.0f, 1.0f, c.pad);
    const Tensor got = test::clone(*be, ref);
    cpu::add_rms_norm_ref(res_ref, delta, w, 1e-5f, ref);
    be->add_rms_norm(res_got, delta, w, 1e-5f, got);
    // The residual update is one fp32 add per element in both tiers: exact.
    EXPECT_EQ(test::to_host(*be, res_ref), test::to_host(*be, res_got)) << "H=" << c.H;
    EXPECT_TRUE(close(test::to_host(*be, ref), test::to_host(*be, got), {c.n, c.H}, kNmse))
        << "n=" << c.n << " H=" << c.H;
  }
}

TEST(CpuRmsNorm, ReferenceMatchesFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(13);
  const int64_t n = 4, H = 768;
  const Tensor x = test::random_f32(*be, rng, n, H, -3.0f, 3.0f);
  const Tensor w = test::random_f32(*be, rng, 1, H, 0.0f, 2.0f).reshape({H});
  const Tensor out = be->alloc(DType::F32, {n, H});
  cpu::rms_norm_ref(x, w, 1e-5f, out);
  const std::vector<float> xv = test::to_host(*be, x), wv = test::to_host(*be, w);
  std::vector<float> want(xv.size());
  for (int64_t r = 0; r < n; ++r) {
    double ss = 0;
    for (int64_t k = 0; k < H; ++k) ss += double(xv[size_t(r * H + k)]) * xv[size_t(r * H + k)];
    const double inv = 1.0 / std::sqrt(ss / H + 1e-5);
    for (int64_t k = 0; k < H; ++k)
      want[size_t(r * H + k)] = float(wv[size_t(k)] * (xv[size_t(r * H + k)] * inv));
  }
  // In-order fp32 sum of 768 squares: relative error ≲ 768 · 2^-24 worst case, ~1e-6
  // typically; NMSE ~1e-13.
  EXPECT_TRUE(close(want, test::to_host(*be, out), {n, H}, 1e-11));
}

// The backend allows out to be the input itself (normalise in place).
TEST(CpuRmsNorm, InPlace) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(14);
  for (bool scalar : {false, true}) {
    if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
    const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
    const Tensor x = test::random_f32(*be, rng, 3, 50, -3.0f, 3.0f, 2);
    const Tensor w = test::random_f32(*be, rng, 1, 50, 0.0f, 2.0f).reshape({50});
    const Tensor want = be->alloc(DType::F32, {3, 50});
    tiered->rms_norm(x, w, 1e-5f, want);
    tiered->rms_norm(x, w, 1e-5f, x);
    EXPECT_EQ(test::to_host(*be, want), test::to_host(*be, x));
  }
}

TEST(CpuRmsNorm, RejectsBadArguments) {
  auto be = make_cpu_backend(best_cpu_tier());
  const Tensor x = be->alloc(DType::F32, {2, 8});
  EXPECT_THROW(be->rms_norm(x, be->alloc(DType::F32, {7}), 1e-5f, x), Error);
  EXPECT_THROW(be->rms_norm(x, be->alloc(DType::F16, {8}), 1e-5f, x), Error);
  EXPECT_THROW(be->rms_norm(x, be->alloc(DType::F32, {8}), 1e-5f, be->alloc(DType::F32, {3, 8})),
               Error);
  EXPECT_THROW(be->add_rms_norm(x, be->alloc(DType::F32, {2, 9}), be->alloc(DType::F32, {8}),
                                1e-5f, x),
               Error);
}

}  // namespace
}  // namespace kllens
