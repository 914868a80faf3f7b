// topk on the CPU: both tiers (through the backend's dispatch) against a stable sort of the
// whole row, with ties across AVX2 lanes and in the tail, NaN, ±∞, −0/+0, strided rows and
// k from 1 to V; and the sampler: top-k draws from Backend::topk's candidates equal draws
// from the whole row, and never leave the k best.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "cpu/cpu_features.h"
#include "cpu/topk.h"
#include "kllens/backend.h"
#include "kllens/sampling.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

// The order spelled out independently of cpu::topk_before: numbers by value descending,
// then NaNs; a stable sort keeps equal keys by index.
std::vector<int32_t> sorted_ids(const float* z, int64_t V) {
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    if (std::isnan(z[a]) || std::isnan(z[b])) return !std::isnan(z[a]) && std::isnan(z[b]);
    return z[a] > z[b];
  });
  return ids;
}

void plant(float* z, int64_t V, int64_t r) {
  if (r == 1) for (int64_t v = 0; v < V; v += 3) z[v] = 9.0f;          // ties across lanes
  if (r == 2) z[V - 1] = 9.0f, z[V / 2] = 9.0f;                         // a tie in the tail
  if (r == 3) z[0] = NAN, z[V / 3] = NAN;                               // NaNs rank last
  if (r == 4) for (int64_t v = 0; v < V; ++v) z[v] = -INFINITY;         // all −∞: by index
  if (r == 5) for (int64_t v = 0; v < V; ++v) z[v] = v % 2 ? -0.0f : 0.0f;  // −0 == +0
  if (r == 6) for (int64_t v = 0; v < V; ++v) z[v] = NAN;               // only NaNs
  if (r == 7 && V > 2) z[V / 2] = INFINITY, z[1] = INFINITY, z[V - 2] = -INFINITY;
  if (r == 8) for (int64_t v = 0; v < V; ++v) z[v] = std::round(z[v]);  // few levels
}

TEST(CpuTopk, BothTiersMatchAStableSort) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(7);
  for (int64_t V : {1, 5, 8, 9, 31, 129, 4096, 50280})
    for (int64_t pad : {0, 3}) {
      const int64_t n = 10;
      Tensor x = test::random_f32(*be, rng, n, V, -4.0f, 4.0f, pad);
      for (int64_t r = 0; r < n; ++r) plant(x.data<float>() + r * x.row_stride, V, r);
      for (int64_t k : {int64_t(1), int64_t(8), int64_t(40), int64_t(50), V}) {
        if (k > V || (k == V && V > 4096)) continue;  // the reference is O(k·V)
        for (bool scalar : {true, false}) {
          if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
          const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
          Tensor values = be->alloc(DType::F32, {n, k}), ids = be->alloc(DType::I32, {n, k});
          tiered->topk(x, values, ids);
          for (int64_t r = 0; r < n; ++r) {
            const float* z = x.data<float>() + r * x.row_stride;
            const std::vector<int32_t> want = sorted_ids(z, V);
            for (int64_t j = 0; j < k; ++j) {
              const int32_t got = ids.data<int32_t>()[r * k + j];
              ASSERT_EQ(got, want[size_t(j)]) << "V=" << V << " k=" << k << " row " << r << " rank " << j
                                              << (scalar ? " scalar" : " avx2");
              const float v = values.data<float>()[r * k + j];
              EXPECT_TRUE(std::isnan(z[got]) ? std::isnan(v) : v == z[got]);
            }
          }
        }
      }
    }
}

TEST(CpuTopk, KEqualsOneIsArgmax) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(8);
  Tensor x = test::random_f32(*be, rng, 6, 50280, -10.0f, 10.0f);
  for (int64_t r = 0; r < 6; r += 2) x.data<float>()[r * 50280 + 777] = x.data<float>()[r * 50280 + 40000] = 12.0f;
  Tensor values = be->alloc(DType::F32, {6, 1}), ids = be->alloc(DType::I32, {6, 1}), am = be->alloc(DType::I32, {6});
  be->topk(x, values, ids);
  be->argmax(x, am);
  for (int64_t r = 0; r < 6; ++r) EXPECT_EQ(ids.data<int32_t>()[r], am.data<int32_t>()[r]) << r;
}

TEST(CpuTopk, RejectsBadK) {
  auto be = make_cpu_backend(best_cpu_tier());
  Tensor x = be->alloc(DType::F32, {2, 5});
  Tensor v6 = be->alloc(DType::F32, {2, 6}), i6 = be->alloc(DType::I32, {2, 6});
  EXPECT_THROW(be->topk(x, v6, i6), Error);
  Tensor v2 = be->alloc(DType::F32, {2, 2}), i3 = be->alloc(DType::I32, {2, 3});
  EXPECT_THROW(be->topk(x, v2, i3), Error);
}

// ---- sampling -------------------------------------------------------------------------------

TEST(SamplerTopk, CandidatesFromTheOpDrawLikeTheWholeRow) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(9);
  const int64_t V = 50280;
  Tensor x = test::random_f32(*be, rng, 1, V, -8.0f, 8.0f);
  for (int k : {1, 8, 40, 50})
    for (float top_p : {1.0f, 0.7f}) {
      SamplingParams p;
      p.temperature = 0.9f;
      p.top_k = k;
      p.top_p = top_p;
      p.seed = 1234;
      Sampler whole(p), cand(p);
      Tensor values = be->alloc(DType::F32, {1, k}), ids = be->alloc(DType::I32, {1, k});
      be->topk(x, values, ids);
      const std::vector<int32_t> order = sorted_ids(x.data<float>(), V);
      for (int draw = 0; draw < 200; ++draw) {
        const int32_t a = whole.next(x.data<float>(), V);
        const int32_t b = cand.next_topk(values.data<float>(), ids.data<int32_t>(), k);
        ASSERT_EQ(a, b) << "k=" << k << " draw " << draw;
        EXPECT_TRUE(std::find(order.begin(), order.begin() + k, a) != order.begin() + k) << a;
      }
    }
}

TEST(SamplerTopk, GreedyStaysTheDefault) {
  std::vector<float> z = {0.5f, 3.0f, 3.0f, -1.0f};
  Sampler s(SamplingParams{});
  EXPECT_EQ(s.next(z.data(), 4), 1);
  EXPECT_FALSE(s.uses_topk());
}

}  // namespace
}  // namespace kllens
