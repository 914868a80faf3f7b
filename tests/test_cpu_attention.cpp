// attention on the CPU: the scalar reference against a float64 oracle that applies the
// mask rule of backend.h to every (query, key) pair explicitly (causal, GQA, sliding
// window with always-visible meta prefix, unequal v head dim, ring slots); the AVX2
// tier (online softmax over key tiles) against the reference; decode steps over a ring of
// meta + W + 1 slots equal a prefill over a cache holding every position.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/attention.h"
#include "cpu/cpu_features.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

using test::close;

struct Case { int64_t B, T, past, nh, nkv, hd, vhd, window, meta, cap, pad; };
const Case kCases[] = {
    {2, 33, 0, 4, 2, 16, 32, 0, 0, 33, 0},        // global causal prefill, GQA 2
    {1, 7, 20, 3, 1, 8, 8, 0, 0, 40, 3},          // continuing prefill, MQA
    {1, 100, 0, 4, 2, 32, 64, 16, 8, 100, 0},     // window + meta, identity slots
    {2, 1, 90, 4, 2, 32, 64, 16, 8, 8 + 17, 1},   // decode over a ring of meta + W + 1
    {1, 5, 70, 5, 1, 64, 128, 10, 4, 4 + 15, 0},  // 5 tokens over a ring of W + 5
    {1, 50, 0, 2, 2, 4, 4, 5, 0, 50, 2},          // window without meta
    {3, 2, 5, 6, 3, 5, 7, 3, 2, 7, 0},            // odd dims, meta queries and window
    {1, 3, 1200, 25, 5, 64, 128, 1024, 128, 128 + 1027, 0},  // Hymba-1.5B's heads
    {1, 20, 0, 4, 2, 8, 16, 64, 16, 20, 0},       // queries inside the meta prefix
};

struct Inputs {
  AttentionArgs a;
  std::vector<float> K, V;  // [B, past + T, nkv·hd] / [.., nkv·vhd] by absolute position
};

// Keys ≈ ±1 and queries ≈ ±1 scaled by 1/sqrt(hd): scores of order 1, as trained models
// have them; values ≈ ±2. Position j's K/V go to slot(j), later positions overwriting
// earlier ones in a ring, as the model writes them.
Inputs make_inputs(Backend& be, std::mt19937& rng, const Case& c) {
  Inputs in;
  AttentionArgs& a = in.a;
  a.batch = c.B;
  a.seqlen = c.T;
  a.past = c.past;
  a.heads = c.nh;
  a.kv_heads = c.nkv;
  a.head_dim = c.hd;
  a.v_head_dim = c.vhd;
  a.window = c.window;
  a.meta = c.meta;
  a.scale = 1.0f / std::sqrt(float(c.hd));
  const int64_t npos = c.past + c.T, kc = c.nkv * c.hd, vc = c.nkv * c.vhd;
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  in.K.resize(size_t(c.B * npos * kc));
  in.V.resize(size_t(c.B * npos * vc));
  for (float& x : in.K) x = d(rng);
  for (float& x : in.V) x = 2 * d(rng);
  a.k_cache = be.alloc(DType::F32, {c.B, c.cap, kc});
  a.v_cache = be.alloc(DType::F32, {c.B, c.cap, vc});
  be.fill_zero(a.k_cache);
  be.fill_zero(a.v_cache);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t j = 0; j < npos; ++j) {
      const int64_t s = cpu::kv_slot(a, c.cap, j);
      std::copy_n(&in.K[size_t((b * npos + j) * kc)], kc, a.k_cache.data<float>() + (b * c.cap + s) * kc);
      std::copy_n(&in.V[size_t((b * npos + j) * vc)], vc, a.v_cache.data<float>() + (b * c.cap + s) * vc);
    }
  a.q = test::random_f32(be, rng, c.B * c.T, c.nh * c.hd, -1.0f, 1.0f, c.pad);
  a.out = test::random_f32(be, rng, c.B * c.T, c.nh * c.vhd, 0.0f, 1.0f, c.pad);
  return in;
}

// The mask of backend.h, pair by pair, softmax in float64.
std::vector<float> oracle(Backend& be, const Inputs& in, const Case& c) {
  const std::vector<float> q = test::to_host(be, in.a.q);
  const int64_t npos = c.past + c.T, kc = c.nkv * c.hd, vc = c.nkv * c.vhd, g = c.nh / c.nkv;
  std::vector<float> out(size_t(c.B * c.T * c.nh * c.vhd));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t t = 0; t < c.T; ++t)
      for (int64_t h = 0; h < c.nh; ++h) {
        const int64_t i = c.past + t, kvh = h / g, r = b * c.T + t;
        std::vector<double> s(size_t(npos), -INFINITY);
        double m = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          if (!(c.window == 0 || i - j <= c.window || j < c.meta)) continue;
          double d = 0;
          for (int64_t e = 0; e < c.hd; ++e)
            d += double(q[size_t(r * c.nh * c.hd + h * c.hd + e)]) *
                 in.K[size_t((b * npos + j) * kc + kvh * c.hd + e)];
          s[size_t(j)] = d * in.a.scale;
          m = std::max(m, s[size_t(j)]);
        }
        double den = 0;
        std::vector<double> acc(size_t(c.vhd), 0.0);
        for (int64_t j = 0; j <= i; ++j) {
          if (s[size_t(j)] == -INFINITY) continue;
          const double p = std::exp(s[size_t(j)] - m);
          den += p;
          for (int64_t e = 0; e < c.vhd; ++e)
            acc[size_t(e)] += p * in.V[size_t((b * npos + j) * vc + kvh * c.vhd + e)];
        }
        for (int64_t e = 0; e < c.vhd; ++e)
          out[size_t(r * c.nh * c.vhd + h * c.vhd + e)] = float(acc[size_t(e)] / den);
      }
  return out;
}

std::string describe(const Case& c) {
  return fmt::format("B={} T={} past={} nh={} nkv={} hd={} vhd={} window={} meta={} cap={}", c.B,
                     c.T, c.past, c.nh, c.nkv, c.hd, c.vhd, c.window, c.meta, c.cap);
}

// fp32 dot products of ≤ 64 terms, exp, and sums of ≤ 1200 weights: relative error
// ~1e-6 per output, NMSE ≤ 7e-13 observed. 1e-10 bounds it while one wrongly masked or
// misplaced key changes an output by ~1e-2 relative (NMSE > 1e-5).
constexpr double kNmse = 1e-10;

TEST(CpuAttention, ReferenceMatchesMaskedFloat64) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(51);
  for (const Case& c : kCases) {
    const Inputs in = make_inputs(*be, rng, c);
    cpu::attention_ref(in.a);
    EXPECT_TRUE(close(oracle(*be, in, c), test::to_host(*be, in.a.out), {c.B * c.T, c.nh * c.vhd},
                      kNmse)) << describe(c);
  }
}

TEST(CpuAttention, Avx2MatchesReference) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(52);
  for (const Case& c : kCases) {
    const Inputs in = make_inputs(*be, rng, c);
    AttentionArgs got = in.a;
    got.out = test::clone(*be, in.a.out);
    cpu::attention_ref(in.a);
    be->attention(got);
    EXPECT_TRUE(close(test::to_host(*be, in.a.out), test::to_host(*be, got.out),
                      {c.B * c.T, c.nh * c.vhd}, kNmse)) << describe(c);
  }
}

// Decoding token by token with a ring of meta + W + 1 slots (each token's K/V written to
// its slot before the call) sees exactly the keys a prefill over all positions sees, in
// the same order: bit-identical outputs on either tier.
TEST(CpuAttention, DecodeOverRingEqualsPrefill) {
  auto be = make_cpu_backend(best_cpu_tier());
  for (bool scalar : {false, true}) {
    if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
    const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
    std::mt19937 rng(53);
    const Case c{2, 40, 0, 4, 2, 8, 16, 8, 4, 40, 0};
    const Inputs in = make_inputs(*be, rng, c);
    tiered->attention(in.a);
    const std::vector<float> want = test::to_host(*be, in.a.out);
    const int64_t cap = c.meta + c.window + 1, kc = c.nkv * c.hd, vc = c.nkv * c.vhd;
    AttentionArgs step = in.a;
    step.k_cache = be->alloc(DType::F32, {c.B, cap, kc});
    step.v_cache = be->alloc(DType::F32, {c.B, cap, vc});
    step.seqlen = 1;
    const std::vector<float> q = test::to_host(*be, in.a.q);
    std::vector<float> got(want.size());
    for (int64_t t = 0; t < c.T; ++t) {
      step.past = t;
      for (int64_t b = 0; b < c.B; ++b) {
        const int64_t s = cpu::kv_slot(step, cap, t);
        std::copy_n(&in.K[size_t((b * c.T + t) * kc)], kc, step.k_cache.data<float>() + (b * cap + s) * kc);
        std::copy_n(&in.V[size_t((b * c.T + t) * vc)], vc, step.v_cache.data<float>() + (b * cap + s) * vc);
      }
      step.q = be->alloc(DType::F32, {c.B, c.nh * c.hd});
      step.out = be->alloc(DType::F32, {c.B, c.nh * c.vhd});
      for (int64_t b = 0; b < c.B; ++b)
        std::copy_n(&q[size_t((b * c.T + t) * c.nh * c.hd)], c.nh * c.hd,
                    step.q.data<float>() + b * c.nh * c.hd);
      tiered->attention(step);
      for (int64_t b = 0; b < c.B; ++b)
        std::copy_n(step.out.data<float>() + b * c.nh * c.vhd, c.nh * c.vhd,
                    &got[size_t((b * c.T + t) * c.nh * c.vhd)]);
    }
    EXPECT_EQ(want, got) << (scalar ? "scalar" : "avx2");
  }
}

TEST(CpuAttention, RejectsBadArguments) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(54);
  const Inputs in = make_inputs(*be, rng, {1, 4, 10, 4, 2, 8, 16, 3, 2, 2 + 7, 0});
  be->attention(in.a);  // ring of W + T = 7 slots: enough
  AttentionArgs bad = in.a;
  bad.seqlen = 5;  // q has 4 rows
  EXPECT_THROW(be->attention(bad), Error);
  bad = in.a;
  bad.window = 4;  // the ring no longer holds window + new tokens
  EXPECT_THROW(be->attention(bad), Error);
  bad = in.a;
  bad.window = 0;  // global attention over a ring
  EXPECT_THROW(be->attention(bad), Error);
  bad = in.a;
  bad.kv_heads = 3;
  EXPECT_THROW(be->attention(bad), Error);
  bad = in.a;
  bad.out = in.a.q.slice_cols(0, 4 * 16 / 2);
  EXPECT_THROW(be->attention(bad), Error);
}

}  // namespace
}  // namespace kllens
