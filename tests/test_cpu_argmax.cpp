// argmax on the CPU: both tiers against a plain scan, with ties (the first index wins,
// across AVX2 lanes and in the tail), NaN entries, all −∞ rows and strided rows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cpu/argmax.h"
#include "cpu/cpu_features.h"
#include "kllens/backend.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

int32_t plain(const float* z, int64_t V) {
  int32_t best = 0;
  for (int64_t v = 0; v < V; ++v)
    if (!std::isnan(z[v]) && (std::isnan(z[best]) || z[v] > z[best])) best = int32_t(v);
  return std::isinf(z[best]) && z[best] < 0 ? 0 : best;
}

TEST(CpuArgmax, BothTiersMatchAPlainScan) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(5);
  for (int64_t V : {1, 5, 8, 9, 31, 4096, 50280})
    for (int64_t pad : {0, 3}) {
      const int64_t n = 12;
      Tensor x = test::random_f32(*be, rng, n, V, -4.0f, 4.0f, pad);
      for (int64_t r = 0; r < n; ++r) {
        float* z = x.data<float>() + r * x.row_stride;
        if (r == 1) for (int64_t v = 0; v < V; v += 3) z[v] = 9.0f;         // ties across lanes
        if (r == 2) z[V - 1] = 9.0f, z[V / 2] = 9.0f;                        // tie with the tail
        if (r == 3) z[0] = NAN;                                              // NaN first
        if (r == 4) for (int64_t v = 0; v < V; ++v) z[v] = -INFINITY;        // nothing above −∞
        if (r == 5 && V > 2) z[V / 2] = NAN, z[V - 2] = 20.0f;
      }
      for (bool scalar : {true, false}) {
        if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
        const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
        Tensor out = be->alloc(DType::I32, {n});
        tiered->argmax(x, out);
        for (int64_t r = 0; r < n; ++r)
          EXPECT_EQ(out.data<int32_t>()[r], plain(x.data<float>() + r * x.row_stride, V))
              << "V=" << V << " row " << r << (scalar ? " scalar" : " avx2");
      }
    }
}

}  // namespace
}  // namespace kllens
