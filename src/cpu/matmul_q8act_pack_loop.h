// The loop both packed-matmul tiers run (matmul_q8act_pack_avx2.cpp, _avx512.cpp). A tier
// brings only its integer sums, as a class template Block<kQ4>: constructed from one packed block's
// codes (INT4 when kQ4, else INT8), its sums(xq, s) is the __m256i whose lane r is I_b of
// row 8g + r against one x row's block codes xq with block sum s (matmul_q8act.h, step 2).
// The rest is here, once: per lane the reference's step 3, c = d_b · e_b (block types;
// d_b for the per-row ones), acc = acc + c · float(I_b), blocks in ascending order, mul
// and add kept apart (CMakeLists.txt builds both includers with -ffp-contract=off), the
// per-row scale and bias at the end: so each tier is bitwise the reference.
//
// Included by those two files alone. Everything here has internal linkage (the unnamed
// namespace): each includer compiles it for its own instruction set, and one linked copy
// of an inline function must not serve the other tier.
#pragma once

#include <immintrin.h>

#include <algorithm>

#include "cpu/matmul_q8act.h"
#include "cpu/matmul_q8act_pack.h"

namespace kllens::cpu {
namespace {  // NOLINT(google-build-namespaces, cert-dcl59-cpp): internal linkage on purpose, see above

constexpr int64_t kParallelMinMacs = int64_t(1) << 18;  // as matmul_q8act_avx2.cpp

// x rows per group_rows call: 4 accumulators, and (AVX2, INT4) the 8 unpacked weight
// vectors still within the 16 ymm registers.
constexpr int64_t kRowTile = 4;

// out[r0 + r][8g .. 8g + 8) = acc[r] · scale (+ bias), r < nx: vector mul then add for a
// whole group (the reference's two roundings), one by one for the last, partial group.
inline void store_outputs(const PackArgs& a, int64_t g, int64_t r0, const __m256* acc, int nx) {
  const int64_t j0 = g * kPackRows;
  if (j0 + kPackRows <= a.p->N) {
    const __m256 sc = a.scale ? _mm256_loadu_ps(a.scale + j0) : _mm256_setzero_ps();
    const __m256 bi = a.bias ? _mm256_loadu_ps(a.bias + j0) : _mm256_setzero_ps();
    for (int r = 0; r < nx; ++r) {
      __m256 o = acc[r];
      if (a.scale) o = _mm256_mul_ps(o, sc);
      if (a.bias) o = _mm256_add_ps(o, bi);
      _mm256_storeu_ps(a.out + (r0 + r) * a.os + j0, o);
    }
    return;
  }
  for (int r = 0; r < nx; ++r) {
    alignas(32) float v[kPackRows];
    _mm256_store_ps(v, acc[r]);
    for (int64_t j = j0; j < a.p->N; ++j) {
      float o = v[j - j0];
      if (a.scale) o *= a.scale[j];
      if (a.bias) o += a.bias[j];
      a.out[(r0 + r) * a.os + j] = o;
    }
  }
}

// Outputs [8g, 8g + 8) of x rows [r0, r0 + NX): the group's blocks in ascending order,
// each unpacked once for the NX rows.
template <template <bool> class Block, bool kQ4, bool kBlockScale, int NX>
void group_rows(const PackArgs& a, int64_t g, int64_t r0) {
  const PackedWeight& p = *a.p;
  const int64_t nb = p.nb;
  constexpr int64_t bb = kQ4 ? 128 : 256;
  const uint8_t* codes = p.codes + size_t(g * nb * bb);
  const uint16_t* sc = kBlockScale ? p.scales + size_t(g * nb) * kPackRows : nullptr;
  __m256 acc[NX];
  for (int r = 0; r < NX; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const Block<kQ4> w(codes + b * bb);
    __m256 e;
    if constexpr (kBlockScale)
      e = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + b * kPackRows)));
    for (int r = 0; r < NX; ++r) {
      const int64_t rb = (r0 + r) * nb + b;
      const __m256i I = w.sums(a.q + rb * kActBlock, a.s[rb]);
      __m256 c = _mm256_set1_ps(a.d[rb]);
      if constexpr (kBlockScale) c = _mm256_mul_ps(c, e);
      acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(c, _mm256_cvtepi32_ps(I)));
    }
  }
  store_outputs(a, g, r0, acc, NX);
}

// Group g against x rows [r0, r0 + n), n ≤ kRowTile.
template <template <bool> class Block, bool kQ4, bool kBlockScale>
void group_tile(const PackArgs& a, int64_t g, int64_t r0, int64_t n) {
  switch (n) {
    case 1: return group_rows<Block, kQ4, kBlockScale, 1>(a, g, r0);
    case 2: return group_rows<Block, kQ4, kBlockScale, 2>(a, g, r0);
    case 3: return group_rows<Block, kQ4, kBlockScale, 3>(a, g, r0);
    default: return group_rows<Block, kQ4, kBlockScale, 4>(a, g, r0);
  }
}

// Groups split statically over the threads; each thread runs all n rows of x against one
// group before the next, so the group's codes (nb · 128 or 256 bytes) stay in L1 while the
// quantised x streams past: decode (n ≤ 3) reads every weight once, prefill reuses each
// group n / 4 times from L1.
template <template <bool> class Block, bool kQ4, bool kBlockScale>
void packed_groups(const PackArgs& a, int64_t n) {
  const PackedWeight& p = *a.p;
#pragma omp parallel for schedule(static) if (p.N * p.K * n >= kParallelMinMacs)
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t r0 = 0; r0 < n; r0 += kRowTile)
      group_tile<Block, kQ4, kBlockScale>(a, g, r0, std::min(kRowTile, n - r0));
}

// The whole matmul for the n rows of x that a holds, dispatched on the packed type.
template <template <bool> class Block>
void packed_matmul(const PackArgs& a, int64_t n) {
  switch (a.p->type) {
    case DType::Q4_0: return packed_groups<Block, true, true>(a, n);
    case DType::Q4_C: return packed_groups<Block, true, false>(a, n);
    case DType::Q8_0: return packed_groups<Block, false, true>(a, n);
    default: return packed_groups<Block, false, false>(a, n);  // Q8_C (pack_weight's types)
  }
}

}  // namespace
}  // namespace kllens::cpu
