// ssd_scan on the CPU: the chunked SSD algorithm (plain-loop tier and AVX2 tier) against
// the plain recurrence (the reference) over odd shapes, chunk sizes that do and do not
// divide T, grouped B/C, strided inputs and Δ limits; state carried across calls (pieces
// and one-token decode steps) equals one call; the reference against a float64 recurrence.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/ssd_scan.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Case { int64_t B, T, nh, P, G, N, chunk, pad; bool D = true; float lo = 0, hi = INFINITY; };

const Case kCases[] = {
    {1, 1, 1, 1, 1, 1, 4, 0},       {1, 7, 3, 5, 1, 7, 4, 3},
    {2, 33, 4, 8, 2, 16, 8, 0},     {1, 64, 8, 32, 1, 32, 64, 2},   // tiny-mamba2's head shape
    {2, 100, 6, 16, 3, 8, 32, 1, false}, {3, 5, 4, 3, 4, 5, 2, 0},
    {1, 300, 2, 64, 1, 128, 256, 0},  // mamba2-130m's P, N, chunk (2 heads)
    {2, 40, 4, 9, 2, 12, 16, 0, true, 0.05f, 0.5f},                  // a Δ clamp that bites
};

// The real domain: dt + dt_bias ∈ [−6, 1] (Δ ≈ 0.002 … 1.3), A = −exp(A_log) with
// A ∈ [−16, −1] (mamba2 init A ∈ [1, 16]), x ≈ ±3, B, C ≈ ±1, D ≈ 1, non-zero state.
// x, B and C are column slices of one wide tensor as the conv output xBC has them.
SsdScanArgs make_args(Backend& be, std::mt19937& rng, const Case& c) {
  SsdScanArgs a;
  a.batch = c.B;
  a.seqlen = c.T;
  a.heads = c.nh;
  a.head_dim = c.P;
  a.groups = c.G;
  a.state_size = c.N;
  a.chunk = c.chunk;
  a.dt_min = c.lo;
  a.dt_max = c.hi;
  const int64_t rows = c.B * c.T, I = c.nh * c.P, GN = c.G * c.N;
  const Tensor xbc = test::random_f32(be, rng, rows, I + 2 * GN, -1.0f, 1.0f, c.pad);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < I; ++i) xbc.data<float>()[r * xbc.row_stride + i] *= 3.0f;
  a.x = xbc.slice_cols(0, I);
  a.B = xbc.slice_cols(I, GN);
  a.C = xbc.slice_cols(I + GN, GN);
  a.dt = test::random_f32(be, rng, rows, c.nh, -4.0f, 1.0f, c.pad + 1);
  a.dt_bias = test::random_f32(be, rng, 1, c.nh, -2.0f, 0.0f).reshape({c.nh});
  a.A = test::random_f32(be, rng, 1, c.nh, -16.0f, -1.0f).reshape({c.nh});
  if (c.D) a.D = test::random_f32(be, rng, 1, c.nh, 0.5f, 1.5f).reshape({c.nh});
  a.state = test::random_f32(be, rng, c.B * I, c.N, -1.0f, 1.0f);
  a.state = a.state.reshape_rows({c.B, c.nh, c.P, c.N});
  a.out = test::random_f32(be, rng, rows, I, 0.0f, 1.0f, c.pad);
  return a;
}

SsdScanArgs clone_outputs(Backend& be, SsdScanArgs a) {
  a.state = test::clone(be, a.state);
  a.out = test::clone(be, a.out);
  return a;
}

std::string describe(const Case& c) {
  return fmt::format("B={} T={} nh={} P={} G={} N={} chunk={} pad={}", c.B, c.T, c.nh, c.P, c.G,
                     c.N, c.chunk, c.pad);
}

// Chunked vs recurrent: the same sums in another order, and exp(Σ a) in place of Π exp(a)
// (each exponent a sum of ≤ chunk rounded terms). Observed NMSE ≲ 1e-13 on outputs and
// states; 1e-10 bounds it while a wrong decay, group or chunk-boundary term gives > 1e-4.
constexpr double kChunkedNmse = 1e-10;

TEST(CpuSsdScan, ChunkedReferenceMatchesRecurrence) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(2024);
  for (const Case& c : kCases) {
    const SsdScanArgs ref = make_args(*be, rng, c);
    const SsdScanArgs got = clone_outputs(*be, ref);
    cpu::ssd_scan_ref(ref);
    cpu::ssd_scan_chunked_ref(got);
    const int64_t I = c.nh * c.P;
    EXPECT_TRUE(close(test::to_host(*be, ref.out), test::to_host(*be, got.out), {c.B * c.T, I},
                      kChunkedNmse)) << describe(c);
    EXPECT_TRUE(close(test::to_host(*be, ref.state), test::to_host(*be, got.state),
                      {c.B, c.nh, c.P, c.N}, kChunkedNmse)) << describe(c);
  }
}

TEST(CpuSsdScan, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(77);
  for (const Case& c : kCases) {
    const SsdScanArgs ref = make_args(*be, rng, c);
    const SsdScanArgs got = clone_outputs(*be, ref);
    cpu::ssd_scan_ref(ref);
    be->ssd_scan(got);  // AVX2: chunked for T > 1, the recurrence for T = 1
    const int64_t I = c.nh * c.P;
    // As above, plus FMA and 8-lane sums over N (a few ulp per term).
    EXPECT_TRUE(close(test::to_host(*be, ref.out), test::to_host(*be, got.out), {c.B * c.T, I},
                      kChunkedNmse)) << describe(c);
    EXPECT_TRUE(close(test::to_host(*be, ref.state), test::to_host(*be, got.state),
                      {c.B, c.nh, c.P, c.N}, kChunkedNmse)) << describe(c);
  }
}

// The reference against the recurrence in float64 from the same fp32 inputs.
TEST(CpuSsdScan, ReferenceMatchesFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(5);
  const Case c{2, 50, 4, 8, 2, 16, 16, 2};
  const SsdScanArgs a = make_args(*be, rng, c);
  const int64_t I = c.nh * c.P, GN = c.G * c.N, hpg = c.nh / c.G;
  const std::vector<float> x = test::to_host(*be, a.x), dt = test::to_host(*be, a.dt),
                           db = test::to_host(*be, a.dt_bias), A = test::to_host(*be, a.A),
                           B = test::to_host(*be, a.B), C = test::to_host(*be, a.C),
                           D = test::to_host(*be, a.D), s0 = test::to_host(*be, a.state);
  std::vector<float> want(size_t(c.B * c.T * I));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.nh; ++h) {
      const int64_t g = h / hpg;
      std::vector<double> S(s0.begin() + (b * c.nh + h) * c.P * c.N,
                            s0.begin() + (b * c.nh + h + 1) * c.P * c.N);
      for (int64_t t = 0; t < c.T; ++t) {
        const size_t r = size_t(b * c.T + t);
        const double v = double(dt[r * size_t(c.nh) + size_t(h)]) + db[size_t(h)];
        const double d = v > 20 ? v : std::log1p(std::exp(v));
        const double dA = std::exp(d * A[size_t(h)]);
        for (int64_t p = 0; p < c.P; ++p) {
          const double xp = x[r * size_t(I) + size_t(h * c.P + p)];
          double y = 0;
          for (int64_t n = 0; n < c.N; ++n) {
            double& s = S[size_t(p * c.N + n)];
            s = dA * s + d * B[r * size_t(GN) + size_t(g * c.N + n)] * xp;
            y += s * C[r * size_t(GN) + size_t(g * c.N + n)];
          }
          want[r * size_t(I) + size_t(h * c.P + p)] = float(y + D[size_t(h)] * xp);
        }
      }
    }
  cpu::ssd_scan_ref(a);
  // fp32 rounding of each op over 50 contracting steps: NMSE ~1e-13 observed.
  EXPECT_TRUE(close(want, test::to_host(*be, a.out), {c.B * c.T, I}, 1e-10));
}

// Param: true runs the reference tier, false the AVX2 tier.
class SsdScanBothTiers : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!cpu_tier_supported(tier())) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  }
  CpuTier tier() const { return GetParam() ? CpuTier::reference : CpuTier::avx2; }
};

// Rows [t0, t0 + n) of every sequence of a [B·T, C] tensor, as a [B·n, C] tensor.
Tensor time_slice(Backend& be, const Tensor& x, int64_t B, int64_t T, int64_t t0, int64_t n) {
  Tensor s = be.alloc(DType::F32, {B * n, x.cols()});
  for (int64_t b = 0; b < B; ++b) be.copy(x.slice_rows(b * T + t0, n), s.slice_rows(b * n, n));
  return s;
}

// Pieces of a sequence (chunk boundaries inside and across calls, one-token decode steps)
// continue from the carried state: the same result as one call up to the chunking's
// rounding (kChunkedNmse, as above).
TEST_P(SsdScanBothTiers, StateCarriesAcrossCalls) {
  auto be = make_cpu_backend(tier());
  std::mt19937 rng(4243);
  const Case c{2, 29, 4, 8, 2, 16, 8, 0};
  const int64_t I = c.nh * c.P;
  const SsdScanArgs whole = make_args(*be, rng, c);
  const Tensor state0 = test::clone(*be, whole.state);
  be->ssd_scan(whole);
  const std::vector<float> want_out = test::to_host(*be, whole.out);
  const std::vector<float> want_state = test::to_host(*be, whole.state);

  for (const std::vector<int64_t>& pieces :
       {std::vector<int64_t>{5, 24}, std::vector<int64_t>{17, 1, 1, 10}, std::vector<int64_t>(29, 1)}) {
    SsdScanArgs step = whole;
    step.state = test::clone(*be, state0);
    Tensor out = be->alloc(DType::F32, {c.B * c.T, I});
    int64_t t0 = 0;
    for (int64_t n : pieces) {
      step.seqlen = n;
      step.x = time_slice(*be, whole.x, c.B, c.T, t0, n);
      step.dt = time_slice(*be, whole.dt, c.B, c.T, t0, n);
      step.B = time_slice(*be, whole.B, c.B, c.T, t0, n);
      step.C = time_slice(*be, whole.C, c.B, c.T, t0, n);
      step.out = be->alloc(DType::F32, {c.B * n, I});
      be->ssd_scan(step);
      for (int64_t b = 0; b < c.B; ++b)
        be->copy(step.out.slice_rows(b * n, n), out.slice_rows(b * c.T + t0, n));
      t0 += n;
    }
    EXPECT_TRUE(close(want_out, test::to_host(*be, out), {c.B * c.T, I}, kChunkedNmse))
        << pieces.size() << " pieces";
    EXPECT_TRUE(close(want_state, test::to_host(*be, step.state), {c.B, c.nh, c.P, c.N},
                      kChunkedNmse));
  }
}

INSTANTIATE_TEST_SUITE_P(Tiers, SsdScanBothTiers, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Scalar" : "Avx2"; });

TEST(CpuSsdScan, RejectsBadArguments) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(1);
  const SsdScanArgs a = make_args(*be, rng, {2, 3, 4, 8, 2, 16, 8, 0});
  SsdScanArgs bad = a;
  bad.seqlen = 4;
  EXPECT_THROW(be->ssd_scan(bad), Error);
  bad = a;
  bad.groups = 3;  // does not divide the heads
  EXPECT_THROW(be->ssd_scan(bad), Error);
  bad = a;
  bad.state = be->alloc(DType::F32, {1, 4, 8, 16});
  EXPECT_THROW(be->ssd_scan(bad), Error);
  bad = a;
  bad.out = a.B.slice_cols(0, 8);  // wrong width
  EXPECT_THROW(be->ssd_scan(bad), Error);
  bad = a;
  bad.out = be->alloc(DType::F32, {6, 32});
  bad.B = bad.out.slice_cols(0, 32);  // out overlaps B
  EXPECT_THROW(be->ssd_scan(bad), Error);
  bad = a;
  bad.dt_min = 1.0f;
  bad.dt_max = 0.5f;
  EXPECT_THROW(be->ssd_scan(bad), Error);
}

}  // namespace
}  // namespace kllens
