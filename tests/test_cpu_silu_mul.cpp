// silu_mul on the CPU: the AVX2 tier against the scalar reference over odd widths and
// strided rows, the reference against float64, and in-place use (out = gate).
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/silu_mul.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Case { int64_t n, F, pad; };
const Case kCases[] = {{1, 1, 0}, {1, 7, 3}, {3, 17, 0}, {5, 344, 2}, {64, 5504, 0}, {2, 1001, 1}};

TEST(CpuSiluMul, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(31);
  for (const Case& c : kCases) {
    const Tensor g = test::random_f32(*be, rng, c.n, c.F, -8.0f, 8.0f, c.pad);
    const Tensor u = test::random_f32(*be, rng, c.n, c.F, -3.0f, 3.0f, c.pad + 2);
    const Tensor ref = test::random_f32(*be, rng, c.n, c.F, 0.0f, 1.0f, c.pad);
    const Tensor got = test::clone(*be, ref);
    cpu::silu_mul_ref(g, u, ref);
    be->silu_mul(g, u, got);
    // exp within 2 ulp of libm, then the same divide and multiply: every output within a
    // few ulp, NMSE ~1e-15; 1e-12 bounds it.
    EXPECT_TRUE(close(test::to_host(*be, ref), test::to_host(*be, got), {c.n, c.F}, 1e-12))
        << "n=" << c.n << " F=" << c.F;
  }
}

TEST(CpuSiluMul, ReferenceMatchesFloat64AndWorksInPlace) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(32);
  const Tensor g = test::random_f32(*be, rng, 3, 300, -30.0f, 30.0f);
  const Tensor u = test::random_f32(*be, rng, 3, 300, -3.0f, 3.0f);
  const std::vector<float> gv = test::to_host(*be, g), uv = test::to_host(*be, u);
  std::vector<float> want(gv.size());
  for (size_t i = 0; i < gv.size(); ++i)
    want[i] = float(double(gv[i]) / (1 + std::exp(-double(gv[i]))) * uv[i]);
  const Tensor out = be->alloc(DType::F32, {3, 300});
  cpu::silu_mul_ref(g, u, out);
  EXPECT_TRUE(close(want, test::to_host(*be, out), {3, 300}, 1e-13));  // 3 fp32 roundings
  be->silu_mul(g, u, g);  // in place, production tier
  EXPECT_TRUE(close(want, test::to_host(*be, g), {3, 300}, 1e-12));
  EXPECT_THROW(be->silu_mul(g, u.slice_cols(0, 299), out), Error);
}

}  // namespace
}  // namespace kllens
