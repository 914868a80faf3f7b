// ssm_scan on the CPU: the best tier against the scalar reference (outputs and state)
// over odd channel counts, batches, strided inputs and every optional input; on every
// tier, that state carried across calls (T1 then T2 tokens, or one-token decode steps)
// equals one call over T1 + T2; the AVX-512 decode bitwise the AVX2 tier's; and the
// reference against a float64 recurrence.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>

#include "cpu/cpu_features.h"
#include "cpu/ssm_scan.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Case { int64_t B, T, I, N; bool D, z, softplus; int64_t pad; };

// The real domain: raw Δ ∈ [−4, 2] before softplus (Δ ≈ 0.02 … 2.1), A = −exp(A_log)
// with A_log ≈ log(1 … N) (Mamba's init, jittered), B, C ≈ ±1, u and z ≈ ±3, D ≈ 1 and a
// non-zero starting state.
SsmScanArgs make_args(Backend& be, std::mt19937& rng, const Case& c) {
  SsmScanArgs a;
  a.batch = c.B;
  a.seqlen = c.T;
  a.delta_softplus = c.softplus;
  const int64_t rows = c.B * c.T;
  a.u = test::random_f32(be, rng, rows, c.I, -3.0f, 3.0f, c.pad);
  a.delta = c.softplus ? test::random_f32(be, rng, rows, c.I, -4.0f, 2.0f, c.pad)
                       : test::random_f32(be, rng, rows, c.I, 0.0f, 2.0f, c.pad);
  a.A = test::random_f32(be, rng, c.I, c.N, 0.7f, 1.3f);
  for (int64_t i = 0; i < c.I; ++i)
    for (int64_t n = 0; n < c.N; ++n) a.A.data<float>()[i * c.N + n] *= -float(n + 1);
  // B and C as column slices of one x_proj output [rows, R + 2N], as the model has them.
  const Tensor bc = test::random_f32(be, rng, rows, 3 + 2 * c.N, -1.0f, 1.0f);
  a.B = bc.slice_cols(3, c.N);
  a.C = bc.slice_cols(3 + c.N, c.N);
  if (c.D) a.D = test::random_f32(be, rng, 1, c.I, 0.5f, 1.5f).reshape({c.I});
  if (c.z) a.z = test::random_f32(be, rng, rows, c.I, -3.0f, 3.0f, c.pad);
  a.state = test::random_f32(be, rng, c.B * c.I, c.N, -1.0f, 1.0f);
  a.state = a.state.reshape_rows({c.B, c.I, c.N});
  a.out = test::random_f32(be, rng, rows, c.I, 0.0f, 1.0f, c.pad);
  return a;
}

SsmScanArgs clone_outputs(Backend& be, SsmScanArgs a) {
  a.state = test::clone(be, a.state);
  a.out = test::clone(be, a.out);
  return a;
}

TEST(CpuSsmScan, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(31337);
  const Case cases[] = {
      {1, 1, 1, 16, true, true, true, 0},    {1, 1, 7, 16, true, true, true, 3},
      {3, 1, 33, 16, true, true, true, 0},   {1, 17, 8, 16, false, false, true, 0},
      {2, 5, 100, 16, true, true, true, 6},  {1, 3, 257, 16, true, false, true, 0},
      {3, 33, 17, 4, false, true, false, 2}, {2, 7, 40, 1, true, true, true, 0},
      {1, 257, 24, 16, true, true, true, 0}, {2, 64, 1536, 16, true, true, true, 0},
  };
  for (const Case& c : cases) {
    const SsmScanArgs ref = make_args(*be, rng, c);
    const SsmScanArgs got = clone_outputs(*be, ref);
    cpu::ssm_scan_ref(ref);
    be->ssm_scan(got);
    // Per token: exp and softplus within 2 ulp of libm, FMA instead of mul+add, and a
    // 16-term sum for y in the same order. The state recurrence is contracting
    // (exp(Δ·A) < 1), so rounding differences stay at a few ulp instead of growing with
    // T: NMSE ~1e-13 observed; 1e-10 bounds it while a wrong Δ, sign or index gives > 1e-4.
    const auto what = ::testing::Message() << "B=" << c.B << " T=" << c.T << " I=" << c.I
                                           << " N=" << c.N << " pad=" << c.pad;
    EXPECT_TRUE(close(test::to_host(*be, ref.out), test::to_host(*be, got.out),
                      {c.B * c.T, c.I}, 1e-10)) << what;
    EXPECT_TRUE(close(test::to_host(*be, ref.state), test::to_host(*be, got.state),
                      {c.B, c.I, c.N}, 1e-10)) << what;
  }
}

// The reference against the recurrence evaluated in float64 from the same inputs.
TEST(CpuSsmScan, ReferenceMatchesFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(8);
  const Case c{2, 40, 9, 16, true, true, true, 0};
  const SsmScanArgs a = make_args(*be, rng, c);
  const std::vector<float> u = test::to_host(*be, a.u), dl = test::to_host(*be, a.delta),
                           A = test::to_host(*be, a.A), B = test::to_host(*be, a.B),
                           C = test::to_host(*be, a.C), D = test::to_host(*be, a.D),
                           z = test::to_host(*be, a.z), s0 = test::to_host(*be, a.state);
  std::vector<float> want(u.size());
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t i = 0; i < c.I; ++i) {
      std::vector<double> h(s0.begin() + (b * c.I + i) * c.N, s0.begin() + (b * c.I + i + 1) * c.N);
      for (int64_t t = 0; t < c.T; ++t) {
        const size_t r = size_t(b * c.T + t);
        const double dt = std::log1p(std::exp(double(dl[r * c.I + i])));
        double y = 0;
        for (int64_t n = 0; n < c.N; ++n) {
          h[size_t(n)] = std::exp(dt * A[size_t(i * c.N + n)]) * h[size_t(n)] +
                         dt * B[r * c.N + n] * u[r * c.I + i];
          y += h[size_t(n)] * C[r * c.N + n];
        }
        y += double(u[r * c.I + i]) * D[size_t(i)];
        const double g = z[r * c.I + i];
        want[r * c.I + i] = float(y * g / (1.0 + std::exp(-g)));
      }
    }
  cpu::ssm_scan_ref(a);
  // fp32 rounding of each op over 40 contracting steps: relative error ~1e-6 where y is
  // not cancelled, NMSE ~1e-12.
  EXPECT_TRUE(close(want, test::to_host(*be, a.out), {c.B * c.T, c.I}, 1e-10));
}

// Param: the tier that runs (a CPU without it skips, saying so).
class SsmScanEveryTier : public ::testing::TestWithParam<CpuTier> {
 protected:
  void SetUp() override {
    if (!cpu_tier_supported(tier())) GTEST_SKIP() << "this CPU cannot run the " << cpu_tier_name(tier()) << " tier";
  }
  CpuTier tier() const { return GetParam(); }
};

// Rows [t0, t0 + n) of every sequence of a [B·T, C] tensor, as a [B·n, C] tensor.
Tensor time_slice(Backend& be, const Tensor& x, int64_t B, int64_t T, int64_t t0, int64_t n) {
  Tensor s = be.alloc(DType::F32, {B * n, x.cols()});
  for (int64_t b = 0; b < B; ++b) be.copy(x.slice_rows(b * T + t0, n), s.slice_rows(b * n, n));
  return s;
}

// Each (sequence, channel) runs the same per-token arithmetic however the tokens are
// split over calls: bit-identical results are expected.
TEST_P(SsmScanEveryTier, StateCarriesAcrossCalls) {
  auto be = make_cpu_backend(tier());
  std::mt19937 rng(4242);
  const Case c{3, 13, 37, 16, true, true, true, 0};
  const SsmScanArgs whole = make_args(*be, rng, c);
  const Tensor state0 = test::clone(*be, whole.state);
  be->ssm_scan(whole);
  const std::vector<float> want_out = test::to_host(*be, whole.out);
  const std::vector<float> want_state = test::to_host(*be, whole.state);

  for (const std::vector<int64_t>& chunks : {std::vector<int64_t>{5, 8}, std::vector<int64_t>{1, 12},
                                              std::vector<int64_t>(13, 1)}) {
    SsmScanArgs step = whole;
    step.state = test::clone(*be, state0);
    Tensor out = be->alloc(DType::F32, {c.B * c.T, c.I});
    int64_t t0 = 0;
    for (int64_t n : chunks) {
      step.seqlen = n;
      step.u = time_slice(*be, whole.u, c.B, c.T, t0, n);
      step.delta = time_slice(*be, whole.delta, c.B, c.T, t0, n);
      step.B = time_slice(*be, whole.B, c.B, c.T, t0, n);
      step.C = time_slice(*be, whole.C, c.B, c.T, t0, n);
      step.z = time_slice(*be, whole.z, c.B, c.T, t0, n);
      step.out = be->alloc(DType::F32, {c.B * n, c.I});
      be->ssm_scan(step);
      for (int64_t b = 0; b < c.B; ++b)
        be->copy(step.out.slice_rows(b * n, n), out.slice_rows(b * c.T + t0, n));
      t0 += n;
    }
    EXPECT_TRUE(close(want_out, test::to_host(*be, out), {c.B * c.T, c.I}, 1e-14))
        << chunks.size() << " chunks";
    EXPECT_TRUE(close(want_state, test::to_host(*be, step.state), {c.B, c.I, c.N}, 1e-14));
  }
}

INSTANTIATE_TEST_SUITE_P(Tiers, SsmScanEveryTier,
                         ::testing::Values(CpuTier::reference, CpuTier::avx2, CpuTier::avx512),
                         [](const auto& p) { return std::string(cpu_tier_name(p.param)); });

// The AVX-512 tier's decode (N = 16) gives bitwise the AVX2 tier's outputs and state:
// channel counts below, at and past whole blocks of 8 and tasks of 64, batches, strided
// rows, each optional input, and three steps in a row (the state carried).
TEST(CpuSsmScan, Avx512DecodeIsBitwiseTheAvx2Tier) {
  if (!cpu_tier_supported(CpuTier::avx512)) GTEST_SKIP() << "this CPU cannot run the avx512 tier";
  auto avx2 = make_cpu_backend(CpuTier::avx2), avx512 = make_cpu_backend(CpuTier::avx512);
  std::mt19937 rng(1616);
  const Case cases[] = {
      {1, 1, 1, 16, true, true, true, 0},     {1, 1, 7, 16, true, true, true, 3},
      {1, 1, 8, 16, false, false, true, 0},   {1, 1, 15, 16, true, false, false, 0},
      {2, 1, 17, 16, false, true, true, 2},   {3, 1, 100, 16, true, true, true, 5},
      {1, 1, 1536, 16, true, true, true, 0},  {2, 1, 4096, 16, true, false, true, 0},
      {1, 1, 3200, 16, true, true, true, 0},  {1, 1, 72, 16, true, true, false, 1},
  };
  for (const Case& c : cases) {
    const SsmScanArgs want = make_args(*avx2, rng, c);
    const SsmScanArgs got = clone_outputs(*avx2, want);
    for (int step = 0; step < 3; ++step) {
      avx2->ssm_scan(want);
      avx512->ssm_scan(got);
    }
    const auto what = ::testing::Message() << "B=" << c.B << " I=" << c.I << " D=" << c.D << " z=" << c.z
                                           << " softplus=" << c.softplus << " pad=" << c.pad;
    EXPECT_EQ(test::to_host(*avx2, want.out), test::to_host(*avx2, got.out)) << what;
    EXPECT_EQ(test::to_host(*avx2, want.state), test::to_host(*avx2, got.state)) << what;
  }
}

// Softplus switches to the identity above 20, as torch's threshold does.
TEST(CpuSsmScan, SoftplusThreshold) {
  auto be = make_cpu_backend(best_cpu_tier());
  for (bool scalar : {false, true}) {
    if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
    const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
    SsmScanArgs a;
    std::vector<float> dl = {19.5f, 20.0f, 20.5f, 30.0f, -30.0f, 0.0f, 1.0f, -1.0f};
    const int64_t I = int64_t(dl.size());
    a.u = be->alloc(DType::F32, {1, I});
    a.delta = be->alloc(DType::F32, {1, I});
    be->upload(a.delta, dl.data());
    std::vector<float> ones(size_t(I), 1.0f);
    be->upload(a.u, ones.data());
    a.A = be->alloc(DType::F32, {I, 1});
    std::vector<float> minus_tiny(size_t(I), -1e-30f);  // exp(Δ·A) = 1: h = h0 + Δ·B·u
    be->upload(a.A, minus_tiny.data());
    a.B = be->alloc(DType::F32, {1, 1});
    a.C = be->alloc(DType::F32, {1, 1});
    const float one = 1.0f;
    be->upload(a.B, &one);
    be->upload(a.C, &one);
    a.state = be->alloc(DType::F32, {1, I, 1});
    be->fill_zero(a.state);
    a.out = be->alloc(DType::F32, {1, I});
    tiered->ssm_scan(a);
    const std::vector<float> y = test::to_host(*be, a.out);
    for (size_t i = 0; i < dl.size(); ++i) {
      const float want = dl[i] > 20.0f ? dl[i] : float(std::log1p(std::exp(double(dl[i]))));
      EXPECT_NEAR(y[i], want, 4e-7f * std::max(1.0f, std::abs(want))) << "Δ raw " << dl[i];
    }
  }
}

TEST(CpuSsmScan, RejectsBadArguments) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(1);
  const SsmScanArgs a = make_args(*be, rng, {2, 3, 8, 16, true, true, true, 0});
  SsmScanArgs bad = a;
  bad.seqlen = 4;
  EXPECT_THROW(be->ssm_scan(bad), Error);
  bad = a;
  bad.A = be->alloc(DType::F32, {8, 15});
  EXPECT_THROW(be->ssm_scan(bad), Error);
  bad = a;
  bad.state = be->alloc(DType::F32, {1, 8, 16});
  EXPECT_THROW(be->ssm_scan(bad), Error);
  bad = a;
  bad.out = a.state.reshape({16, 16}).slice_cols(0, 8).slice_rows(0, 6);
  EXPECT_THROW(be->ssm_scan(bad), Error);
}

}  // namespace
}  // namespace kllens
