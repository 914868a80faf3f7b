// rms_norm_gated on the CPU: the AVX2 tier against the scalar reference over odd widths,
// group sizes (one group = HF's whole-vector norm; several = mamba_ssm's per-group norm)
// and strided rows; the reference against float64; in-place use (out = y).
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/rms_norm_gated.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Case { int64_t n, I, gs, pad; };
const Case kCases[] = {{1, 1, 1, 0},    {1, 7, 7, 3},     {3, 24, 8, 0},     {5, 36, 12, 2},
                       {2, 256, 256, 0}, {4, 256, 64, 5}, {3, 1536, 1536, 0}, {2, 1000, 125, 1}};

// Gate: exp within 2 ulp, one divide; sum of gs squares in 8 lanes vs in order: the
// group scale differs by ~√gs ulp, each output by that plus two roundings: NMSE ≲ 1e-13
// observed; 1e-11 as for rms_norm.
constexpr double kNmse = 1e-11;

TEST(CpuRmsNormGated, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(21);
  for (const Case& c : kCases) {
    const Tensor y = test::random_f32(*be, rng, c.n, c.I, -3.0f, 3.0f, c.pad);
    const Tensor z = test::random_f32(*be, rng, c.n, c.I, -4.0f, 4.0f, c.pad + 1);
    const Tensor w = test::random_f32(*be, rng, 1, c.I, 0.0f, 2.0f).reshape({c.I});
    const Tensor ref = test::random_f32(*be, rng, c.n, c.I, 0.0f, 1.0f, c.pad);
    const Tensor got = test::clone(*be, ref);
    cpu::rms_norm_gated_ref(y, z, w, c.gs, 1e-5f, ref);
    be->rms_norm_gated(y, z, w, c.gs, 1e-5f, got);
    EXPECT_TRUE(close(test::to_host(*be, ref), test::to_host(*be, got), {c.n, c.I}, kNmse))
        << "n=" << c.n << " I=" << c.I << " gs=" << c.gs;
  }
}

TEST(CpuRmsNormGated, ReferenceMatchesFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(22);
  const int64_t n = 3, I = 512, gs = 128;
  const Tensor y = test::random_f32(*be, rng, n, I, -3.0f, 3.0f);
  const Tensor z = test::random_f32(*be, rng, n, I, -4.0f, 4.0f);
  const Tensor w = test::random_f32(*be, rng, 1, I, 0.0f, 2.0f).reshape({I});
  const Tensor out = be->alloc(DType::F32, {n, I});
  cpu::rms_norm_gated_ref(y, z, w, gs, 1e-5f, out);
  const std::vector<float> yv = test::to_host(*be, y), zv = test::to_host(*be, z),
                           wv = test::to_host(*be, w);
  std::vector<float> want(yv.size());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g0 = 0; g0 < I; g0 += gs) {
      std::vector<double> v(static_cast<size_t>(gs));
      double ss = 0;
      for (int64_t k = 0; k < gs; ++k) {
        const double zk = zv[size_t(r * I + g0 + k)];
        v[size_t(k)] = yv[size_t(r * I + g0 + k)] * zk / (1 + std::exp(-zk));
        ss += v[size_t(k)] * v[size_t(k)];
      }
      const double inv = 1 / std::sqrt(ss / double(gs) + 1e-5);
      for (int64_t k = 0; k < gs; ++k)
        want[size_t(r * I + g0 + k)] = float(wv[size_t(g0 + k)] * v[size_t(k)] * inv);
    }
  // fp32 gate (3 roundings) and an in-order sum of 128 squares: NMSE ~1e-14.
  EXPECT_TRUE(close(want, test::to_host(*be, out), {n, I}, 1e-12));
}

TEST(CpuRmsNormGated, InPlaceOnBothTiers) {
  auto be = make_cpu_backend(best_cpu_tier());
  for (bool scalar : {false, true}) {
    if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
    const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
    std::mt19937 rng(23);
    const Tensor y = test::random_f32(*be, rng, 4, 96, -3.0f, 3.0f, 4);
    const Tensor z = test::random_f32(*be, rng, 4, 96, -3.0f, 3.0f);
    const Tensor w = test::random_f32(*be, rng, 1, 96, 0.0f, 2.0f).reshape({96});
    const Tensor out = be->alloc(DType::F32, {4, 96});
    tiered->rms_norm_gated(y, z, w, 32, 1e-5f, out);
    tiered->rms_norm_gated(y, z, w, 32, 1e-5f, y);
    EXPECT_EQ(test::to_host(*be, out), test::to_host(*be, y)) << (scalar ? "scalar" : "avx2");
  }
}

TEST(CpuRmsNormGated, RejectsBadArguments) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(24);
  const Tensor y = test::random_f32(*be, rng, 2, 12, -1.0f, 1.0f);
  const Tensor z = test::random_f32(*be, rng, 2, 12, -1.0f, 1.0f);
  const Tensor w = test::random_f32(*be, rng, 1, 12, -1.0f, 1.0f).reshape({12});
  const Tensor out = be->alloc(DType::F32, {2, 12});
  EXPECT_THROW(be->rms_norm_gated(y, z, w, 5, 1e-5f, out), Error);  // 5 does not divide 12
  EXPECT_THROW(be->rms_norm_gated(y, z, w, 0, 1e-5f, out), Error);
  EXPECT_THROW(be->rms_norm_gated(y, z.slice_cols(0, 8), w, 4, 1e-5f, out), Error);
  EXPECT_THROW(be->rms_norm_gated(y, z, w.slice_cols(0, 8), 4, 1e-5f, out), Error);
}

}  // namespace
}  // namespace kllens
