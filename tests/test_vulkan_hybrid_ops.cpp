// Vulkan kernels of Mamba-2 and Hymba (ssd_scan, rms_norm_gated, rope, attention, silu_mul)
// against the CPU reference backend, with the Khronos validation layer (and
// synchronisation validation) on: any validation message fails the test.
//
// Inputs are random with fixed seeds, in each op's real domain (A < 0, Δ from softplus of
// moderate values, inv_freq from a real RoPE base). Strided views are column slices of
// wider parents and the whole parent is compared, so writes outside a view are caught.
//
// Bounds: 1e-7 NMSE. Both sides compute in fp32; what differs is the order of fp32 sums
// (GPU tree / tile reductions, the chunked SSD's decay factors exp(Â_l − Â_s) vs the CPU's
// masked cumulative sums, attention's online softmax over key tiles vs one softmax) and
// GLSL vs libm exp/log/sin/cos (a few ulp): relative errors ≲ 1e-5, NMSE ≲ 1e-10.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kllens/backend.h"
#include "kllens/error.h"
#include "kllens/vulkan.h"
#include "support/compare.h"
#include "support/vulkan_pair.h"

namespace kllens {
namespace {

using namespace ::kllens::test;

// ---- silu_mul -----------------------------------------------------------------------------

TEST(VulkanHybridOps, SiluMul) {
  REQUIRE_VULKAN();
  struct S { int64_t n, F, pad; };
  for (S s : {S{1, 5504, 0}, S{7, 37, 3}, S{33, 1000, 0}, S{1, 1, 0}, S{300, 129, 2}}) {
    const uint32_t seed = uint32_t(s.n * 131 + s.F);
    const Pair g = random_pair({s.n, s.F}, seed, s.pad, s.pad / 2, -6.f, 6.f);
    const Pair u = random_pair({s.n, s.F}, seed + 1, s.pad, 0);
    Pair out = random_pair({s.n, s.F}, seed + 2, s.pad, s.pad ? 1 : 0);
    cpu().silu_mul(g.c, u.c, out.c);
    vulkan()->silu_mul(g.v, u.v, out.v);
    EXPECT_TRUE(same(out)) << "n=" << s.n << " F=" << s.F;
  }
}

// ---- rms_norm_gated -----------------------------------------------------------------------

TEST(VulkanHybridOps, RmsNormGated) {
  REQUIRE_VULKAN();
  struct S { int64_t n, I, gs, pad; };
  // mamba2-130m (I 1536, one group), several groups, odd sizes, strided views.
  for (S s : {S{1, 1536, 1536, 0}, S{9, 1536, 1536, 4}, S{5, 96, 24, 3}, S{3, 37, 37, 0},
              S{70, 2048, 256, 0}, S{2, 1, 1, 1}}) {
    const uint32_t seed = uint32_t(s.n * 17 + s.I + s.gs);
    const Pair y = random_pair({s.n, s.I}, seed, s.pad, s.pad / 2, -2.f, 2.f);
    const Pair z = random_pair({s.n, s.I}, seed + 1, s.pad, 0, -4.f, 4.f);
    const Pair w = random_pair({s.I}, seed + 2, 0, 0, 0.5f, 1.5f);
    Pair out = random_pair({s.n, s.I}, seed + 3, s.pad, s.pad ? 1 : 0);
    cpu().rms_norm_gated(y.c, z.c, w.c, s.gs, 1e-5f, out.c);
    vulkan()->rms_norm_gated(y.v, z.v, w.v, s.gs, 1e-5f, out.v);
    EXPECT_TRUE(same(out)) << "n=" << s.n << " I=" << s.I << " gs=" << s.gs;
  }
}

// ---- rope ---------------------------------------------------------------------------------

// inv_freq[k] = base^(−2k/hd) in fp32 (HF), base = Hymba's NTK base.
std::vector<float> inv_freq(int64_t hd, double base = 74534.830318) {
  std::vector<float> f(size_t(hd / 2));
  for (int64_t k = 0; k < hd / 2; ++k) f[size_t(k)] = float(1.0 / std::pow(base, double(2 * k) / double(hd)));
  return f;
}

TEST(VulkanHybridOps, Rope) {
  REQUIRE_VULKAN();
  struct S { int64_t B, T, past, heads, hd, pad; };
  // Hymba q (25 heads) and k (5 heads) at prefill incl. meta, a decode step far out, odd
  // shapes, batch 2, a strided slice of in_proj's output.
  for (S s : {S{1, 140, 0, 25, 64, 0}, S{1, 1, 4223, 5, 64, 0}, S{2, 13, 7, 3, 8, 5},
              S{1, 3, 12000, 2, 128, 0}, S{2, 1, 100, 1, 2, 1}}) {
    const uint32_t seed = uint32_t(s.T * 7 + s.past + s.heads * s.hd);
    const int64_t rows = s.B * s.T, C = s.heads * s.hd;
    const Pair f = make_pair(DType::F32, {s.hd / 2}, inv_freq(s.hd));
    Pair x = random_pair({rows, C}, seed, s.pad, s.pad / 2);
    cpu().rope(x.c, f.c, s.B, s.T, s.past, s.heads, s.hd);
    vulkan()->rope(x.v, f.v, s.B, s.T, s.past, s.heads, s.hd);
    EXPECT_TRUE(same(x)) << "B=" << s.B << " T=" << s.T << " past=" << s.past << " hd=" << s.hd;
  }
}

// ---- attention ----------------------------------------------------------------------------

struct AttnCase {
  int64_t B, T, past, nh, nkv, hd, vhd, window, meta, cap;
  int64_t pad = 0;  // q and out as strided column slices
  int reuse = 1;    // calls on the same cache with different q (a KV consumer layer)
};

void check_attention(const AttnCase& c) {
  const uint32_t seed = uint32_t(c.T * 7919 + c.past * 31 + c.nh * 7 + c.hd + c.window);
  const Pair kc = random_pair({c.B, c.cap, c.nkv * c.hd}, seed, 0, 0, -1.5f, 1.5f);
  const Pair vc = random_pair({c.B, c.cap, c.nkv * c.vhd}, seed + 1);
  for (int call = 0; call < c.reuse; ++call) {
    const Pair q = random_pair({c.B * c.T, c.nh * c.hd}, seed + 2 + uint32_t(call), c.pad, c.pad / 2,
                               -1.5f, 1.5f);
    Pair out = random_pair({c.B * c.T, c.nh * c.vhd}, seed + 5 + uint32_t(call), c.pad, c.pad ? 1 : 0);
    AttentionArgs a;
    a.batch = c.B;
    a.seqlen = c.T;
    a.past = c.past;
    a.heads = c.nh;
    a.kv_heads = c.nkv;
    a.head_dim = c.hd;
    a.v_head_dim = c.vhd;
    a.window = c.window;
    a.meta = c.meta;
    a.scale = float(1.0 / std::sqrt(double(c.hd)));
    AttentionArgs ac = a, av = a;
    ac.q = q.c, ac.k_cache = kc.c, ac.v_cache = vc.c, ac.out = out.c;
    av.q = q.v, av.k_cache = kc.v, av.v_cache = vc.v, av.out = out.v;
    cpu().attention(ac);
    vulkan()->attention(av);
    EXPECT_TRUE(same(out)) << "B=" << c.B << " T=" << c.T << " past=" << c.past << " nh=" << c.nh
                           << " window=" << c.window << " meta=" << c.meta << " cap=" << c.cap
                           << " call " << call;
  }
}

TEST(VulkanHybridOps, AttentionSmall) {
  REQUIRE_VULKAN();
  check_attention({1, 5, 0, 4, 2, 8, 12, 0, 0, 5});                // tiny, causal, GQA, vhd ≠ hd
  check_attention({2, 37, 0, 6, 3, 16, 24, 10, 3, 37, 3});         // window + meta, strided, batch 2
  check_attention({1, 1, 0, 3, 1, 4, 4, 0, 0, 1});                 // a single key
  check_attention({1, 70, 0, 2, 2, 32, 32, 0, 0, 70});             // MHA, several key tiles
  check_attention({1, 3, 40, 4, 1, 16, 8, 0, 0, 43});              // multi-token call after a prefix
  check_attention({1, 1, 100, 4, 2, 16, 32, 16, 4, 21});           // decode on a ring cache
  check_attention({2, 5, 50, 4, 2, 16, 32, 16, 4, 25, 2});         // 5 tokens on a ring, batch 2
  check_attention({1, 9, 0, 5, 1, 8, 16, 2, 0, 9, 0, 2});          // tiny window, KV reuse
}

TEST(VulkanHybridOps, AttentionHymba) {
  REQUIRE_VULKAN();
  // Hymba-1.5B: 25 q heads, 5 kv heads, q/k head 64, v head 128, window 1024, 128 meta.
  // SWA prefill longer than window + meta; then two layers' decode (KV reuse) over a ring
  // of meta + window + 1 slots far past it; a global layer's decode.
  check_attention({1, 1300, 0, 25, 5, 64, 128, 1024, 128, 1300});
  check_attention({1, 1, 3000, 25, 5, 64, 128, 1024, 128, 128 + 1024 + 1, 0, 2});
  check_attention({1, 1, 2047, 25, 5, 64, 128, 0, 0, 2048});
}

// ---- ssd_scan -----------------------------------------------------------------------------

struct SsdCase {
  int64_t B, T, nh, P, N, G, chunk;
  int64_t pad = 0;       // x, dt, B, C, out as strided column slices
  bool D = true;
  float dt_min = 0.f, dt_max = INFINITY;
  int steps = 0;         // decode steps chained after the call, on the carried state
};

// Inputs in Mamba-2's domain: A = −exp(U(0, ln 16)), Δ = softplus(U(−1, 1) + U(−4, −1)).
struct SsdInputs {
  Pair x, dt, bias, A, Bm, Cm, D, out;
};

SsdInputs ssd_inputs(const SsdCase& c, int64_t T, uint32_t seed) {
  const int64_t rows = c.B * T;
  std::vector<float> A = randu(size_t(c.nh), seed + 3, 0.f, std::log(16.f));
  for (float& v : A) v = -std::exp(v);
  return {random_pair({rows, c.nh * c.P}, seed, c.pad, c.pad / 2),
          random_pair({rows, c.nh}, seed + 1, c.pad, 1),
          random_pair({c.nh}, seed + 2, 0, 0, -4.f, -1.f),
          make_pair(DType::F32, {c.nh}, A),
          random_pair({rows, c.G * c.N}, seed + 4, c.pad, c.pad),
          random_pair({rows, c.G * c.N}, seed + 5, c.pad, 0),
          random_pair({c.nh}, seed + 6, 0, 0, 0.5f, 1.5f),
          random_pair({rows, c.nh * c.P}, seed + 7, c.pad, c.pad ? 2 : 0)};
}

void run_ssd(const SsdCase& c, int64_t T, const SsdInputs& in, const Pair& state) {
  SsdScanArgs a;
  a.batch = c.B;
  a.seqlen = T;
  a.heads = c.nh;
  a.head_dim = c.P;
  a.groups = c.G;
  a.state_size = c.N;
  a.chunk = c.chunk;
  a.dt_min = c.dt_min;
  a.dt_max = c.dt_max;
  SsdScanArgs ac = a, av = a;
  ac.x = in.x.c, ac.dt = in.dt.c, ac.dt_bias = in.bias.c, ac.A = in.A.c, ac.B = in.Bm.c, ac.C = in.Cm.c;
  ac.D = c.D ? in.D.c : Tensor{}, ac.state = state.c, ac.out = in.out.c;
  av.x = in.x.v, av.dt = in.dt.v, av.dt_bias = in.bias.v, av.A = in.A.v, av.B = in.Bm.v, av.C = in.Cm.v;
  av.D = c.D ? in.D.v : Tensor{}, av.state = state.v, av.out = in.out.v;
  cpu().ssd_scan(ac);
  vulkan()->ssd_scan(av);
}

void check_ssd(const SsdCase& c) {
  const uint32_t seed = uint32_t(c.T * 131 + c.nh * 17 + c.P * 7 + c.N + c.chunk);
  Pair state = random_pair({c.B * c.nh * c.P, c.N}, seed + 100, 0, 0, -0.5f, 0.5f);
  const SsdInputs in = ssd_inputs(c, c.T, seed);
  run_ssd(c, c.T, in, state);
  const std::string what = "B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) + " nh=" +
                           std::to_string(c.nh) + " P=" + std::to_string(c.P) + " N=" + std::to_string(c.N) +
                           " G=" + std::to_string(c.G) + " chunk=" + std::to_string(c.chunk);
  EXPECT_TRUE(same(in.out)) << "out " << what;
  EXPECT_TRUE(same(state)) << "state " << what;
  for (int k = 0; k < c.steps; ++k) {  // decode steps continue from the prefill's state
    const SsdInputs step = ssd_inputs(c, 1, seed + 1000 + uint32_t(k));
    run_ssd(c, 1, step, state);
    EXPECT_TRUE(same(step.out)) << "step " << k << " out " << what;
  }
  if (c.steps) {
    EXPECT_TRUE(same(state)) << "state after the steps " << what;
  }
}

TEST(VulkanHybridOps, SsdScanSmall) {
  REQUIRE_VULKAN();
  check_ssd({1, 5, 2, 3, 4, 1, 2});                                 // tiny, chunks of 2 with a tail
  check_ssd({2, 37, 4, 8, 16, 2, 16, 3, false});                    // groups, strided, no D, batch 2
  check_ssd({1, 1, 3, 5, 7, 1, 256, 2});                            // one decode step, odd sizes
  check_ssd({1, 20, 2, 4, 8, 2, 64, 0, true, 0.05f, 0.2f, 3});      // Δ clamp, one short chunk, steps
  check_ssd({3, 2, 2, 16, 32, 1, 1});                               // chunk 1
}

TEST(VulkanHybridOps, SsdScanMamba2) {
  REQUIRE_VULKAN();
  // mamba2-130m: nh 24, P 64, N 128, G 1, chunk 256: a prefill of two chunks (the second
  // short) followed by decode steps on the carried state; batch-2 decode.
  check_ssd({1, 300, 24, 64, 128, 1, 256, 0, true, 0.f, INFINITY, 2});
  check_ssd({2, 1, 24, 64, 128, 1, 256, 0, true, 0.f, INFINITY, 1});
}

}  // namespace
}  // namespace kllens
