// matmul on the CPU: the AVX2 tier (GEMV for n < 4, packed GEMM above) against the
// scalar reference, for every weight type, odd shapes and strided x / out; the reference
// against a float64 product; and the backend's argument checks.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/dequant.h"
#include "cpu/matmul.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Shape3 { int64_t n, N, K; };

// n covers GEMV (1..3) and GEMM (4+, tile tails of 6); N covers 4-row GEMV blocks and
// 16-row GEMM panels with tails; K covers the 16/8-wide loops, their scalar tails and
// the 32-element blocks of Q8_0/Q4_0 with a short last group (48: dt_proj's width).
const Shape3 kShapes[] = {
    {1, 1, 1},    {1, 3, 7},     {1, 17, 33},  {1, 100, 257}, {2, 7, 48},   {3, 33, 100},
    {4, 17, 31},  {7, 3, 8},     {17, 33, 257}, {33, 100, 64}, {100, 7, 17}, {257, 40, 48},
    {6, 16, 16},  {1, 257, 768}, {13, 80, 96},
};
const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_C,
                        DType::Q4_C, DType::Q8_0, DType::Q4_0};

class MatmulTiers : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTiers, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(1234);
  for (const Shape3& s : kShapes) {
    for (int64_t pad : {0, 5}) {
      const Tensor x = test::random_f32(*be, rng, s.n, s.K, -1.0f, 1.0f, pad);
      const Weight w = test::random_weight(*be, rng, GetParam(), s.N, s.K, pad != 0);
      const Tensor ref = test::random_f32(*be, rng, s.n, s.N, 0.0f, 1.0f, pad);
      const Tensor got = test::clone(*be, ref);
      cpu::matmul_ref(x, w, ref);
      be->matmul(x, w, got);
      // Both tiers sum K fp32 products, in different orders (GEMV: 16 partial sums; GEMM:
      // one FMA chain); quantised per-row types also apply the scale after the sum. Each
      // output then differs by a random walk of ≤ K roundings of 2^-24 relative size:
      // NMSE ≈ K · 2^-48 ≈ 3e-12 at K = 768. 1e-10 leaves margin; one wrong element of
      // a few hundred already gives NMSE > 1e-4.
      EXPECT_TRUE(close(test::to_host(*be, ref), test::to_host(*be, got), {s.n, s.N}, 1e-10))
          << dtype_name(GetParam()) << " n=" << s.n << " N=" << s.N << " K=" << s.K
          << " pad=" << pad;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTiers, ::testing::ValuesIn(kTypes),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

// The reference itself against a float64 product of the same dequantised weights.
TEST(CpuMatmul, ReferenceMatchesFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(99);
  const int64_t n = 5, N = 37, K = 300;
  for (DType type : kTypes) {
    const Tensor x = test::random_f32(*be, rng, n, K, -1.0f, 1.0f);
    const Weight w = test::random_weight(*be, rng, type, N, K, true);
    const Tensor out = be->alloc(DType::F32, {n, N});
    cpu::matmul_ref(x, w, out);
    std::vector<float> want(static_cast<size_t>(n * N)), wrow(static_cast<size_t>(K));
    for (int64_t j = 0; j < N; ++j) {
      cpu::dequant_row(type, w.w.data<uint8_t>() + j * w.w.row_bytes(), K,
                       w.scale.empty() ? 1.0f : w.scale.data<float>()[j], wrow.data());
      for (int64_t r = 0; r < n; ++r) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += double(x.data<float>()[r * K + k]) * wrow[k];
        want[size_t(r * N + j)] = float(acc + w.bias.data<float>()[j]);
      }
    }
    // fp32 in-order sum of 300 terms vs float64: relative error ~ √K · 2^-24 ≈ 1e-6.
    EXPECT_TRUE(close(want, test::to_host(*be, out), {n, N}, 1e-10)) << dtype_name(type);
  }
}

TEST(CpuMatmul, ScalarTierIsTheReference) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(7);
  const Tensor x = test::random_f32(*be, rng, 9, 50, -1.0f, 1.0f, 3);
  const Weight w = test::random_weight(*be, rng, DType::F16, 21, 50, true);
  const Tensor ref = be->alloc(DType::F32, {9, 21}), got = be->alloc(DType::F32, {9, 21});
  cpu::matmul_ref(x, w, ref);
  make_cpu_backend(CpuTier::reference)->matmul(x, w, got);
  EXPECT_EQ(test::to_host(*be, ref), test::to_host(*be, got));
}

// Strided out: the columns around the slice keep their values.
TEST(CpuMatmul, WritesOnlyItsColumns) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(5);
  for (int64_t n : {1, 12}) {
    const Tensor x = test::random_f32(*be, rng, n, 40, -1.0f, 1.0f);
    const Weight w = test::random_weight(*be, rng, DType::F32, 19, 40, false);
    const Tensor full = be->alloc(DType::F32, {n, 30});
    std::vector<float> sentinel(static_cast<size_t>(n * 30), 12345.0f);
    be->upload(full, sentinel.data());
    be->matmul(x, w, full.slice_cols(6, 19));
    const std::vector<float> after = test::to_host(*be, full);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < 30; ++c) {
        if (c >= 6 && c < 25) continue;
        EXPECT_EQ(after[size_t(r * 30 + c)], 12345.0f) << r << "," << c;
      }
  }
}

TEST(CpuMatmul, RejectsBadArguments) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(1);
  const Tensor x = test::random_f32(*be, rng, 2, 8, -1.0f, 1.0f);
  const Weight w = test::random_weight(*be, rng, DType::F16, 4, 8, false);
  EXPECT_THROW(be->matmul(x, w, be->alloc(DType::F32, {2, 5})), Error);          // out cols
  EXPECT_THROW(be->matmul(x.slice_cols(0, 7), w, be->alloc(DType::F32, {2, 4})), Error);
  Weight q = test::random_weight(*be, rng, DType::Q8_C, 4, 8, false);
  q.scale = Tensor{};
  EXPECT_THROW(be->matmul(x, q, be->alloc(DType::F32, {2, 4})), Error);          // no scale
  EXPECT_THROW(be->matmul(x, w, x), Error);                                       // aliasing
}

}  // namespace
}  // namespace kllens
