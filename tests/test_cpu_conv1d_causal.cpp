// conv1d_causal on the CPU: the AVX2 tier against the scalar reference (outputs and the
// carried state) over odd channel counts, kernel widths, batches and strided rows; and,
// on both tiers, that state carried across calls gives the same result as one call and
// that one-token decode steps reproduce a prefill.
#include <gtest/gtest.h>

#include "cpu/conv1d_causal.h"
#include "cpu/cpu_features.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Case { int64_t B, T, C, K; bool bias, silu; int64_t pad; };

// Inputs as Mamba feeds them: x = in_proj output (≈ ±2), taps ±1, a non-zero state
// (a sequence already under way).
Conv1dArgs make_args(Backend& be, std::mt19937& rng, const Case& c) {
  Conv1dArgs a;
  a.batch = c.B;
  a.seqlen = c.T;
  a.silu = c.silu;
  a.x = test::random_f32(be, rng, c.B * c.T, c.C, -2.0f, 2.0f, c.pad);
  a.weight = test::random_f32(be, rng, c.C, c.K, -1.0f, 1.0f);
  if (c.bias) a.bias = test::random_f32(be, rng, 1, c.C, -1.0f, 1.0f).reshape({c.C});
  a.state = test::random_f32(be, rng, c.B * (c.K - 1), c.C, -2.0f, 2.0f, c.pad);
  a.state = a.state.reshape_rows({c.B, c.K - 1, c.C});
  a.out = test::random_f32(be, rng, c.B * c.T, c.C, 0.0f, 1.0f, c.pad);
  return a;
}

Conv1dArgs clone_outputs(Backend& be, Conv1dArgs a) {
  a.state = test::clone(be, a.state);
  a.out = test::clone(be, a.out);
  return a;
}

TEST(CpuConv1dCausal, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(2024);
  const Case cases[] = {
      {1, 1, 1, 4, true, true, 0},    {1, 1, 7, 4, true, true, 3},   {3, 1, 33, 4, true, true, 0},
      {1, 17, 8, 4, false, true, 0},  {2, 5, 100, 4, true, false, 6}, {1, 3, 257, 4, true, true, 0},
      {3, 33, 17, 2, true, true, 2},  {2, 7, 40, 1, true, true, 0},  {1, 2, 24, 3, false, false, 0},
      {2, 100, 1536, 4, true, true, 0},
  };
  for (const Case& c : cases) {
    const Conv1dArgs ref = make_args(*be, rng, c);
    const Conv1dArgs got = clone_outputs(*be, ref);
    cpu::conv1d_causal_ref(ref);
    be->conv1d_causal(got);
    // At most K fp32 products summed (FMA vs mul+add), then silu through the vector exp
    // (≤ 2 ulp): a few ulp per element, NMSE ~1e-13. The state is a plain copy: exact.
    const auto what = ::testing::Message() << "B=" << c.B << " T=" << c.T << " C=" << c.C
                                           << " K=" << c.K << " pad=" << c.pad;
    EXPECT_TRUE(close(test::to_host(*be, ref.out), test::to_host(*be, got.out),
                      {c.B * c.T, c.C}, 1e-11)) << what;
    EXPECT_EQ(test::to_host(*be, ref.state), test::to_host(*be, got.state)) << what;
  }
}

// Param: true runs the reference tier, false the AVX2 tier.
class Conv1dBothTiers : public ::testing::TestWithParam<bool> {
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

// Splitting a sequence into chunks (T1 then T2 tokens, or T one-token decode steps)
// computes the same arithmetic per element as one call: bit-identical is expected; the
// bound only allows for nothing more than that.
TEST_P(Conv1dBothTiers, StateCarriesAcrossCalls) {
  auto be = make_cpu_backend(tier());
  std::mt19937 rng(77);
  const Case c{3, 11, 37, 4, true, true, 0};
  const Conv1dArgs whole = make_args(*be, rng, c);
  const Tensor state0 = test::clone(*be, whole.state);
  be->conv1d_causal(whole);
  const std::vector<float> want_out = test::to_host(*be, whole.out);
  const std::vector<float> want_state = test::to_host(*be, whole.state);

  for (const std::vector<int64_t>& chunks : {std::vector<int64_t>{4, 7}, std::vector<int64_t>{1, 2, 8},
                                              std::vector<int64_t>(11, 1)}) {
    Conv1dArgs step = whole;
    step.state = test::clone(*be, state0);
    Tensor out = be->alloc(DType::F32, {c.B * c.T, c.C});
    int64_t t0 = 0;
    for (int64_t n : chunks) {
      step.seqlen = n;
      step.x = time_slice(*be, whole.x, c.B, c.T, t0, n);
      step.out = be->alloc(DType::F32, {c.B * n, c.C});
      be->conv1d_causal(step);
      for (int64_t b = 0; b < c.B; ++b)
        be->copy(step.out.slice_rows(b * n, n), out.slice_rows(b * c.T + t0, n));
      t0 += n;
    }
    EXPECT_TRUE(close(want_out, test::to_host(*be, out), {c.B * c.T, c.C}, 1e-14))
        << chunks.size() << " chunks";
    EXPECT_TRUE(close(want_state, test::to_host(*be, step.state), {c.B, c.K - 1, c.C}, 1e-14));
  }
}

// A fresh sequence (zero state) shorter than the kernel reads zeros before its start.
TEST_P(Conv1dBothTiers, ZeroStateIsZeroPadding) {
  auto be = make_cpu_backend(tier());
  std::mt19937 rng(3);
  Conv1dArgs a = make_args(*be, rng, {1, 2, 9, 4, false, false, 0});
  be->fill_zero(a.state);
  be->conv1d_causal(a);
  const std::vector<float> x = test::to_host(*be, a.x), w = test::to_host(*be, a.weight),
                           out = test::to_host(*be, a.out), st = test::to_host(*be, a.state);
  for (int64_t ch = 0; ch < 9; ++ch) {
    EXPECT_FLOAT_EQ(out[size_t(ch)], w[size_t(ch * 4 + 3)] * x[size_t(ch)]);
    EXPECT_FLOAT_EQ(out[size_t(9 + ch)],
                    w[size_t(ch * 4 + 2)] * x[size_t(ch)] + w[size_t(ch * 4 + 3)] * x[size_t(9 + ch)]);
    EXPECT_EQ(st[size_t(ch)], 0.0f);              // state = [0, x0, x1]
    EXPECT_EQ(st[size_t(9 + ch)], x[size_t(ch)]);
    EXPECT_EQ(st[size_t(18 + ch)], x[size_t(9 + ch)]);
  }
}

INSTANTIATE_TEST_SUITE_P(Tiers, Conv1dBothTiers, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Scalar" : "Avx2"; });

TEST(CpuConv1dCausal, RejectsBadArguments) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(1);
  Conv1dArgs a = make_args(*be, rng, {2, 3, 8, 4, true, true, 0});
  Conv1dArgs bad = a;
  bad.seqlen = 2;  // x has 6 rows
  EXPECT_THROW(be->conv1d_causal(bad), Error);
  bad = a;
  bad.state = be->alloc(DType::F32, {2, 4, 8});  // K−1 = 3 rows per sequence
  EXPECT_THROW(be->conv1d_causal(bad), Error);
  bad = a;
  bad.out = a.x;
  EXPECT_THROW(be->conv1d_causal(bad), Error);
}

}  // namespace
}  // namespace kllens
