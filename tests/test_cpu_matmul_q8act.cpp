// matmul_q8act (MatmulMode::fast) on the CPU: the scalar reference against a hand-worked
// case and against an independent float64 evaluation of its formula; fast vs exact within
// the activation-quantisation error; the backend's mode switch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "cpu/cpu_features.h"
#include "cpu/dequant.h"
#include "cpu/matmul.h"
#include "cpu/matmul_q8act.h"
#include "cpu/matmul_q8act_pack.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

const DType kIntTypes[] = {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0};

// ---- the activation quantiser -------------------------------------------------------------

TEST(CpuMatmulQ8act, QuantiserHandWorked) {
  // K = 40: a block of 32, then a tail of 8 (slots 8..31 of block 1 must be 0).
  std::vector<float> x(40, 0.0f);
  // Binary-exact values: amax = 127/128 gives d = 1/128 and id = 128 exactly.
  x[0] = 127.0f / 128;   // q = 127
  x[1] = -63.5f / 128;   // -63.5 → half to even: -64
  x[2] = 0.5f / 128;     // 0.5 → 0
  x[3] = 1.5f / 128;     // 1.5 → 2
  // block 1: all zero except x[33] → d = |x|/127, q = ±127
  x[33] = -2.0f;
  std::vector<int8_t> q(64, 99);
  float d[2];
  int32_t s[2];
  cpu::quantize_act_q8_ref(x.data(), 40, q.data(), d, s);
  EXPECT_EQ(d[0], 1.0f / 128);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -64);
  EXPECT_EQ(q[2], 0);
  EXPECT_EQ(q[3], 2);
  EXPECT_EQ(s[0], 127 - 64 + 2);
  EXPECT_FLOAT_EQ(d[1], 2.0f / 127.0f);
  EXPECT_EQ(q[33], -127);
  EXPECT_EQ(s[1], -127);
  for (int k = 40; k < 64; ++k) EXPECT_EQ(q[k], 0) << k;
  // An all-zero block has d = 0 and codes 0.
  std::vector<float> zero(32, 0.0f);
  cpu::quantize_act_q8_ref(zero.data(), 32, q.data(), d, s);
  EXPECT_EQ(d[0], 0.0f);
  EXPECT_EQ(s[0], 0);
}

// ---- the reference against its formula in float64 -----------------------------------------

// out evaluated from matmul_q8act.h in float64 (integer products exact either way), from
// the dequantised weights: Σ_b d_b · Σ_k q_k · value_k, value_k = dequant_row's fp32 value.
std::vector<double> formula_f64(const Tensor& x, const Weight& w) {
  const int64_t n = x.rows(), K = x.cols(), N = w.out_features(), nb = cpu::act_blocks(K);
  std::vector<double> out(size_t(n * N));
  std::vector<int8_t> q(static_cast<size_t>(nb * 32));
  std::vector<float> d(static_cast<size_t>(nb)), wrow(static_cast<size_t>(K));
  std::vector<int32_t> s(static_cast<size_t>(nb));
  for (int64_t r = 0; r < n; ++r) {
    cpu::quantize_act_q8_ref(x.data<float>() + r * x.row_stride, K, q.data(), d.data(), s.data());
    for (int64_t j = 0; j < N; ++j) {
      cpu::dequant_row(w.w.dtype, w.w.data<uint8_t>() + j * w.w.row_bytes(), K,
                       w.scale.empty() ? 1.0f : w.scale.data<float>()[j], wrow.data());
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += double(d[size_t(k / 32)]) * q[size_t(k)] * wrow[size_t(k)];
      out[size_t(r * N + j)] = acc + (w.bias.empty() ? 0.0 : w.bias.data<float>()[j]);
    }
  }
  return out;
}

TEST(CpuMatmulQ8act, ReferenceMatchesFormulaInFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(77);
  for (DType type : kIntTypes)
    for (int64_t K : {48, 300, 32, 7}) {
      const int64_t n = 3, N = 19;
      const Tensor x = test::random_f32(*be, rng, n, K, -1.0f, 1.0f, 4);
      const Weight w = test::random_weight(*be, rng, type, N, K, true);
      const Tensor out = be->alloc(DType::F32, {n, N});
      cpu::matmul_q8act_ref(x, w, out);
      const std::vector<double> want = formula_f64(x, w);
      const std::vector<float> wantf(want.begin(), want.end());
      // The reference rounds each block term and the running sum to fp32 (≤ 10 blocks):
      // relative error ~ 10 · 2^-24 ≈ 6e-7, NMSE ≲ 1e-12. A wrong block or scale gives
      // NMSE ≥ 1e-3.
      EXPECT_TRUE(close(wantf, test::to_host(*be, out), {n, N}, 1e-11))
          << dtype_name(type) << " K=" << K;
    }
}

// Fast differs from exact only by the activation quantisation: each block's x is rounded
// to 1/254 of its amax, a relative error of about 1/(127·√3·2) per element ≈ 0.23 %, so
// the NMSE of the product is ~(0.0023)² · (spread factor) ≈ 1e-5; 1e-4 is the bound.
TEST(CpuMatmulQ8act, FastIsCloseToExact) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(3);
  for (DType type : kIntTypes) {
    const int64_t n = 2, N = 64, K = 768;
    const Tensor x = test::random_f32(*be, rng, n, K, -1.0f, 1.0f);
    const Weight w = test::random_weight(*be, rng, type, N, K, false);
    const Tensor exact = be->alloc(DType::F32, {n, N}), fast = be->alloc(DType::F32, {n, N});
    cpu::matmul_ref(x, w, exact);
    cpu::matmul_q8act_ref(x, w, fast);
    EXPECT_TRUE(close(test::to_host(*be, exact), test::to_host(*be, fast), {n, N}, 1e-4))
        << dtype_name(type);
  }
}

// ---- the AVX2 tier against the reference ----------------------------------------------------

TEST(CpuMatmulQ8act, Avx2QuantiserIsBitwiseTheReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  for (int64_t K : {1, 31, 32, 48, 100, 768}) {
    std::vector<float> x(static_cast<size_t>(K));
    for (float& v : x) v = u(rng);
    if (K >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // a block with d = 0
    const int64_t nb = cpu::act_blocks(K);
    std::vector<int8_t> qa(static_cast<size_t>(nb * 32), 7), qb(static_cast<size_t>(nb * 32), 9);
    std::vector<float> da(static_cast<size_t>(nb)), db(static_cast<size_t>(nb));
    std::vector<int32_t> sa(static_cast<size_t>(nb)), sb(static_cast<size_t>(nb));
    cpu::quantize_act_q8_ref(x.data(), K, qa.data(), da.data(), sa.data());
    cpu::quantize_act_q8_avx2(x.data(), K, qb.data(), db.data(), sb.data());
    EXPECT_EQ(qa, qb) << K;
    EXPECT_EQ(da, db) << K;
    EXPECT_EQ(sa, sb) << K;
  }
}

struct Shape3 { int64_t n, N, K; };

// n: GEMV (1..3) and GEMM (4+, tails of the 4-row tile); N: odd, the 16-row task panel
// and its 2-row tile tails; K: 32-blocks, tails of 16 (48 = mamba-130m's dt_proj), 1, 7.
const Shape3 kShapes[] = {{1, 1, 1},    {1, 3, 7},    {1, 17, 33},  {1, 100, 257}, {2, 7, 48},
                          {3, 33, 100}, {4, 17, 31},  {7, 3, 8},    {17, 33, 257}, {33, 100, 64},
                          {100, 7, 17}, {257, 40, 48}, {6, 16, 16}, {1, 257, 768}, {13, 80, 96},
                          {1, 1536, 48}, {64, 48, 1536}};

class MatmulQ8actTiers : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulQ8actTiers, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(4321);
  for (const Shape3& s : kShapes)
    for (int64_t pad : {0, 5}) {
      const Tensor x = test::random_f32(*be, rng, s.n, s.K, -1.0f, 1.0f, pad);
      const Weight w = test::random_weight(*be, rng, GetParam(), s.N, s.K, pad != 0);
      const Tensor ref = test::random_f32(*be, rng, s.n, s.N, 0.0f, 1.0f, pad);
      const Tensor got = test::clone(*be, ref);
      cpu::matmul_q8act_ref(x, w, ref);
      cpu::matmul_q8act_avx2(x, w, got);
      // Integer block products are exact in both tiers; only the fp32 sum of the ≤ 48
      // per-block terms runs in another order (8 lanes, then a horizontal sum): each output
      // moves by a few roundings of 2^-24 relative size, NMSE ~ nb · 2^-48 ≈ 1e-13. The
      // bound of matmul_q8act.h, 1e-12; a wrong block or scale gives NMSE > 1e-4.
      EXPECT_TRUE(close(test::to_host(*be, ref), test::to_host(*be, got), {s.n, s.N}, 1e-12))
          << dtype_name(GetParam()) << " n=" << s.n << " N=" << s.N << " K=" << s.K
          << " pad=" << pad;
    }
}

INSTANTIATE_TEST_SUITE_P(IntTypes, MatmulQ8actTiers, ::testing::ValuesIn(kIntTypes),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

// The packed matmul (cpu/matmul_q8act_pack.h) keeps each output's fp32 terms in the
// reference's order (one lane per row, mul then add, ascending blocks), so each of its
// tiers (AVX2, AVX-512 VNNI) is bitwise the reference: called directly, and through that
// tier's backend on an imported weight (the backend's packed path; the unpacked AVX2 GEMV
// and GEMM sum in another order and would differ by ulps). Rows not a multiple of 8, K
// tails (48, 33, 7, 1), GEMV rows (1-3) and GEMM rows (4 and up: whole 4-row tiles and
// their tails).
class PackedMatmulTiers : public ::testing::TestWithParam<CpuTier> {};

TEST_P(PackedMatmulTiers, BitwiseTheReference) {
  const CpuTier tier = GetParam();
  if (!cpu_tier_supported(tier)) GTEST_SKIP() << "this CPU lacks the " << cpu_tier_name(tier) << " tier's instructions";
  const auto packed_matmul = tier == CpuTier::avx512 ? cpu::matmul_q8act_packed_avx512 : cpu::matmul_q8act_packed_avx2;
  auto be = make_cpu_backend(tier);
  be->set_matmul_mode(MatmulMode::fast);
  std::mt19937 rng(977);
  for (DType type : kIntTypes)
    for (const Shape3& s : kShapes) {
      for (int64_t pad : {0, 3}) {
        const Tensor x = test::random_f32(*be, rng, s.n, s.K, -1.0f, 1.0f, pad);
        const Weight w = test::random_weight(*be, rng, type, s.N, s.K, pad != 0);
        const Tensor ref = test::random_f32(*be, rng, s.n, s.N, 0.0f, 1.0f, pad);
        const Tensor direct = test::clone(*be, ref), backend = test::clone(*be, ref);
        cpu::matmul_q8act_ref(x, w, ref);
        const auto packed = cpu::pack_weight(type, w.w.data<uint8_t>(), w.w.row_bytes(), s.N, s.K);
        packed_matmul(x, w, *packed, direct);
        Weight imported = w;
        imported.w = be->import_host(w.w.buf, w.w.host_ptr(), type, {s.N, s.K});
        be->matmul(x, imported, backend);
        const std::string what = fmt::format("{} n={} N={} K={} pad={}", dtype_name(type), s.n, s.N, s.K, pad);
        EXPECT_EQ(test::to_host(*be, direct), test::to_host(*be, ref)) << what;
        EXPECT_EQ(test::to_host(*be, backend), test::to_host(*be, ref)) << what;
      }
    }
}

INSTANTIATE_TEST_SUITE_P(CpuMatmulQ8act, PackedMatmulTiers, ::testing::Values(CpuTier::avx2, CpuTier::avx512),
                         [](const auto& p) { return std::string(cpu_tier_name(p.param)); });

// The backend's mode: exact by default (bitwise the exact matmul), fast runs matmul_q8act
// on integer weights and leaves F16 weights alone.
TEST(CpuMatmulQ8act, BackendModeSelectsTheKernel) {
  auto be = make_cpu_backend(CpuTier::reference);  // compared with the scalar kernels below
  EXPECT_EQ(be->matmul_mode(), MatmulMode::exact);
  std::mt19937 rng(11);
  const Tensor x = test::random_f32(*be, rng, 1, 96, -1.0f, 1.0f);
  const Weight q = test::random_weight(*be, rng, DType::Q4_0, 33, 96, true);
  const Weight h = test::random_weight(*be, rng, DType::F16, 33, 96, true);
  const Tensor a = be->alloc(DType::F32, {1, 33}), b = be->alloc(DType::F32, {1, 33});
  {
    be->matmul(x, q, a);
    cpu::matmul_ref(x, q, b);
    EXPECT_EQ(test::to_host(*be, a), test::to_host(*be, b));
    be->set_matmul_mode(MatmulMode::fast);
    be->matmul(x, q, a);
    cpu::matmul_q8act_ref(x, q, b);
    EXPECT_EQ(test::to_host(*be, a), test::to_host(*be, b));
    be->matmul(x, h, a);
    cpu::matmul_ref(x, h, b);
    EXPECT_EQ(test::to_host(*be, a), test::to_host(*be, b));
  }
}

}  // namespace
}  // namespace kllens
