// rope on the CPU: the AVX2 tier against the scalar reference (same angle table) over
// odd head counts, head dims and strided rows; the reference against
// float64; the NeoX pairing (d with d + hd/2) and positions past + t checked by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/rope.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

// inv_freq[k] = 1 / base^(2k/hd) in fp32, as torch computes it (specs/hymba.md A11).
Tensor inv_freq(Backend& be, int64_t hd, float base) {
  std::vector<float> f(static_cast<size_t>(hd / 2));
  for (int64_t k = 0; k < hd / 2; ++k) f[size_t(k)] = 1.0f / std::pow(base, float(2 * k) / float(hd));
  Tensor t = be.alloc(DType::F32, {hd / 2});
  be.upload(t, f.data());
  return t;
}

struct Case { int64_t B, T, past, heads, hd, pad; };
const Case kCases[] = {{1, 1, 0, 1, 2, 0},    {1, 5, 3, 3, 6, 3},      {2, 17, 0, 4, 32, 0},
                       {1, 9, 1000, 25, 64, 5}, {3, 4, 7, 5, 64, 0},   {1, 2, 8190, 2, 48, 1}};

TEST(CpuRope, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(41);
  for (const Case& c : kCases) {
    const Tensor f = inv_freq(*be, c.hd, 74534.83f);
    const Tensor ref = test::random_f32(*be, rng, c.B * c.T, c.heads * c.hd, -3.0f, 3.0f, c.pad);
    const Tensor got = test::clone(*be, ref);
    cpu::rope_ref(ref, f, c.B, c.T, c.past, c.heads, c.hd);
    be->rope(got, f, c.B, c.T, c.past, c.heads, c.hd);
    // Same cos/sin; the compiler may contract x1·c − x2·s into an FMA in the AVX2 build:
    // one rounding fewer, ≤ 1 ulp per output, NMSE ~1e-16.
    EXPECT_TRUE(close(test::to_host(*be, ref), test::to_host(*be, got), {c.B * c.T, c.heads * c.hd},
                      1e-14)) << "hd=" << c.hd << " heads=" << c.heads;
  }
}

TEST(CpuRope, ReferenceMatchesFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(42);
  const int64_t B = 2, T = 20, past = 300, heads = 3, hd = 16;
  const Tensor f = inv_freq(*be, hd, 10000.0f);
  const Tensor x = test::random_f32(*be, rng, B * T, heads * hd, -3.0f, 3.0f);
  const std::vector<float> xv = test::to_host(*be, x), fv = test::to_host(*be, f);
  std::vector<float> want(xv.size());
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t k = 0; k < hd / 2; ++k) {
        const double ang = double(float(past + r % T) * fv[size_t(k)]);  // the fp32 angle
        const size_t i1 = size_t(r * heads * hd + h * hd + k), i2 = i1 + size_t(hd / 2);
        want[i1] = float(xv[i1] * std::cos(ang) - xv[i2] * std::sin(ang));
        want[i2] = float(xv[i2] * std::cos(ang) + xv[i1] * std::sin(ang));
      }
  cpu::rope_ref(x, f, B, T, past, heads, hd);
  // cos/sin in fp32 (≤ 1 ulp) and three roundings: NMSE ~1e-15.
  EXPECT_TRUE(close(want, test::to_host(*be, x), {B * T, heads * hd}, 1e-13));
}

// Position 0 is the identity; x = e_0 at position p becomes cos(p·f0)·e_0 + sin(p·f0)·e_{hd/2}.
TEST(CpuRope, PairsHalvesAtPastPlusT) {
  auto be = make_cpu_backend(best_cpu_tier());
  const int64_t hd = 8;
  const Tensor f = inv_freq(*be, hd, 10000.0f);
  std::vector<float> v(2 * hd, 0.0f);
  v[0] = 1.0f;       // row 0 (position past + 0)
  v[hd] = 1.0f;      // row 1 (position past + 1)
  Tensor x = be->alloc(DType::F32, {2, hd});
  be->upload(x, v.data());
  be->rope(x, f, 1, 2, 0, 1, hd);
  const std::vector<float> y = test::to_host(*be, x);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[hd / 2], 0.0f);
  EXPECT_FLOAT_EQ(y[hd], std::cos(1.0f));
  EXPECT_FLOAT_EQ(y[hd + hd / 2], std::sin(1.0f));
  EXPECT_EQ(y[hd + 1], 0.0f);
  EXPECT_THROW(be->rope(x, f, 1, 2, 0, 1, 7), Error);
  EXPECT_THROW(be->rope(x, f, 1, 3, 0, 1, hd), Error);
}

}  // namespace
}  // namespace kllens
