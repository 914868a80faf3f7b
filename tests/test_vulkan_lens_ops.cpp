// Vulkan kernels of the KL lens (kl_reduce, argmax, quantize_weight) against the CPU
// reference backend, with the Khronos validation layer on: any validation message fails.
//
// (argmax and the whole-output comparisons of every op are cases of check::all_cases(),
// run by tests/test_kernels.cpp; these check per column and per byte.)
// kl_reduce: the CPU twin sums in fp64; the GPU kernel in fp32 with a cancellation-free
// form of the KL (shaders/kl_reduce.comp). The output NMSE over [n, 8] is dominated by the
// Σzt² column, so each column is also checked on its own: KL columns to 1e-4 relative
// (+1e-9 absolute) — the fixtures ask 1e-3 for probe metrics — CE to 1e-6 relative, the
// sums to 1e-5 relative (fp32 tree sums of 5e4 squares), top-1 exactly.
// argmax and quantize_weight must match exactly (I32 ids, identical quantised bytes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kllens/backend.h"
#include "kllens/check.h"
#include "kllens/error.h"
#include "kllens/vulkan.h"
#include "support/compare.h"
#include "support/vulkan_pair.h"

namespace kllens {
namespace {

using namespace ::kllens::test;

// Teacher logits ~ N(0, sd) with a few peaked rows; student = teacher + shift + noise·N(0,1).
struct Logits { std::vector<float> t, s; };
Logits make_logits(int64_t n, int64_t V, float noise, float shift, uint32_t seed) {
  const std::vector<float> a = check::normal(n * V, seed), e = check::normal(n * V, seed + 1);
  Logits l;
  l.t.resize(size_t(n * V));
  l.s.resize(size_t(n * V));
  for (int64_t r = 0; r < n; ++r) {
    const float sd = r % 3 == 0 ? 6.f : 2.5f;
    for (int64_t v = 0; v < V; ++v) {
      const size_t i = size_t(r * V + v);
      l.t[i] = sd * a[i];
      l.s[i] = l.t[i] + shift + noise * e[i];
    }
    if (r % 4 == 1) l.s[size_t(r * V + (r * 7919) % V)] = l.t[size_t(r * V + (r * 7919) % V)] + 40.f;  // top-1 flips
  }
  return l;
}

// ---- kl_reduce ----------------------------------------------------------------------------

void check_kl(int64_t n, int64_t V, float noise, float shift, int64_t pad, uint32_t seed) {
  const Logits l = make_logits(n, V, noise, shift, seed);
  const Pair t = make_pair(DType::F32, {n, V}, l.t, pad, pad / 2);
  const Pair s = make_pair(DType::F32, {n, V}, l.s, pad, 0);
  std::vector<float> ids(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) ids[size_t(r)] = r % 5 == 2 ? -1.f : float((r * 104729) % V);
  const Pair y = make_pair(DType::I32, {n}, ids);
  Pair out = random_pair({n, kKlStats}, seed + 9, pad ? 3 : 0, pad ? 1 : 0);
  cpu().kl_reduce(t.c, s.c, y.c, out.c);
  vulkan()->kl_reduce(t.v, s.v, y.v, out.v);
  EXPECT_TRUE(same(out)) << "n=" << n << " V=" << V << " noise=" << noise;
  const std::vector<float> ref = fetch(cpu(), out.c), got = fetch(*vulkan(), out.v);
  double worst[kKlStats] = {};
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < kKlStats; ++c) {
      const double a = ref[size_t(r * kKlStats + c)], b = got[size_t(r * kKlStats + c)];
      const double rel = std::abs(a - b) / (std::abs(a) + 1e-30);
      worst[c] = std::max(worst[c], rel);
      const double tol = c < 2 ? 1e-4 * std::abs(a) + 1e-9
                       : c < 4 || c == 7 ? 1e-6 * std::abs(a) + 1e-6
                       : c < 6 ? 1e-5 * std::abs(a)
                               : 0.0;
      EXPECT_LE(std::abs(a - b), tol) << "row " << r << " column " << c << " ref " << a << " got " << b
                                      << " (V=" << V << " noise=" << noise << ")";
    }
  std::printf("    V=%-6lld noise %.0e: worst rel KLpq %.1e KLqp %.1e CEt %.1e CEs %.1e sq %.1e tt %.1e dCE %.1e\n",
              static_cast<long long>(V), double(noise), worst[0], worst[1], worst[2], worst[3], worst[4],
              worst[5], worst[7]);
}

TEST(VulkanLensOps, KlReduce) {
  REQUIRE_VULKAN();
  check_kl(1, 1, 0.1f, 0.f, 0, 1);            // one-word vocabulary: KL 0
  check_kl(3, 37, 0.1f, 0.5f, 2, 2);          // odd, strided
  check_kl(6, 1000, 1e-3f, 0.f, 0, 3);        // 8-bit-probe-like noise
  check_kl(5, 50280, 1e-3f, 2.f, 0, 4);       // mamba vocabulary, shifted student
  check_kl(4, 50280, 1e-2f, 0.f, 5, 5);
  check_kl(4, 32001, 0.3f, -1.f, 0, 6);       // Hymba vocabulary, 4-bit-like noise
  check_kl(2, 32001, 3.f, 0.f, 0, 7);         // very different distributions
  // 700 × 50280 logits (141 MB a side): beyond lavapipe's 128 MiB maxStorageBufferRange,
  // the launcher splits the rows over several bindings.
  check_kl(700, 50280, 1e-3f, 0.f, 3, 8);
}

// ---- quantize_weight ----------------------------------------------------------------------

std::vector<uint8_t> raw_bytes(Backend& b, const Tensor& t) {
  std::vector<uint8_t> v(t.span_bytes());
  b.download(t, v.data());
  return v;
}

// Random weights with near-ties: every 7th value is (i + ½)·amax/qmax, which rounds to a
// half-integer or next to one after the fp32 division, and a few exact zeros and signs.
std::vector<float> tie_weights(int64_t N, int64_t K, uint32_t seed) {
  std::vector<float> w = randu(size_t(N * K), seed, -0.2f, 0.2f);
  std::mt19937 rng(seed + 1);
  for (int64_t r = 0; r < N; ++r) {
    float* row = &w[size_t(r * K)];
    row[(r * 13) % K] = r % 2 ? 0.25f : -0.25f;  // the row's abs-max (also for its first group)
    for (int64_t k = 0; k < K; k += 7)
      if (k != (r * 13) % K) row[k] = (float(int(rng() % 15)) - 7.f + 0.5f) * 0.25f / (r % 3 ? 127.f : 7.f);
    if (K > 3) row[K - 1] = 0.f;
  }
  return w;
}

std::vector<uint8_t> as_dtype(DType t, const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&out[i * 4], &v[i], 4);
    } else {
      const uint16_t h = t == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    }
  }
  return out;
}

void check_quantize(DType src, DType type, int64_t N, int64_t K, int64_t pad, uint32_t seed) {
  const std::vector<uint8_t> bytes = as_dtype(src, tie_weights(N, K + pad, seed));
  Tensor pc = cpu().alloc(src, {N, K + pad}), pv = vulkan()->alloc(src, {N, K + pad});
  cpu().upload(pc, bytes.data());
  vulkan()->upload(pv, bytes.data());
  Weight wc{pad ? pc.slice_cols(pad, K) : pc, {}, {}}, wv{pad ? pv.slice_cols(pad, K) : pv, {}, {}};
  const Weight qc = cpu().quantize_weight(wc, type);
  const Weight qv = vulkan()->quantize_weight(wv, type);
  vulkan()->sync();
  const std::string what = std::string(dtype_name(src)) + " -> " + std::string(dtype_name(type)) +
                           " [" + std::to_string(N) + ", " + std::to_string(K) + "]";
  ASSERT_EQ(qv.w.dtype, type) << what;
  const std::vector<uint8_t> bc = raw_bytes(cpu(), qc.w), bv = raw_bytes(*vulkan(), qv.w);
  ASSERT_EQ(bc.size(), bv.size()) << what;
  size_t diff = 0;
  for (size_t i = 0; i < bc.size(); ++i) diff += bc[i] != bv[i];
  EXPECT_EQ(diff, 0u) << what << ": " << diff << " of " << bc.size() << " bytes differ";
  if (!qc.scale.empty()) {
    ASSERT_FALSE(qv.scale.empty()) << what;
    EXPECT_EQ(raw_bytes(cpu(), qc.scale), raw_bytes(*vulkan(), qv.scale)) << what << " scales";
  }
  std::printf("    %-32s %zu bytes identical\n", what.c_str(), bc.size() - diff);
}

TEST(VulkanLensOps, QuantizeWeightIdenticalBytes) {
  REQUIRE_VULKAN();
  struct S { int64_t N, K, pad; };
  for (DType type : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0})
    for (DType src : {DType::F32, DType::F16, DType::BF16})
      for (S s : {S{5, 37, 0}, S{3, 48, 2}, S{1, 1, 0}, S{7, 33, 0}, S{64, 768, 0}, S{48, 1536, 3}})
        check_quantize(src, type, s.N, s.K, s.pad, uint32_t(s.N * 1000 + s.K + int(type) * 7 + int(src)));
}

}  // namespace
}  // namespace kllens
