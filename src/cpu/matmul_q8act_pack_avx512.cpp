// matmul_q8act on packed weights (matmul_q8act_pack.h), AVX-512 VNNI tier: the AVX2 tier's
// loop (a group of 8 rows against every row of x, 4 at a time) with 512-bit vectors and
// vpdpbusd, on the same packed layout.
//
// One zmm load takes two of a block's 32-byte vectors, p_2k and p_2k+1: lanes 0–7 hold
// rows 8g..8g+7 for activation codes x[4·2k ..], lanes 8–15 the same rows for
// x[4·(2k+1) ..]. So the activation vector A_k has x's dword 2k broadcast to its low half
// and dword 2k+1 to its high half (one vpermd of the block's 32 codes), and one vpdpbusd
// (u8 weights × s8 codes, four products summed into each int32 lane) does the work of two
// vpmaddubsw + vpmaddwd + adds of the AVX2 tier. After the block, the two halves added
// give I_b of the 8 rows, exactly (integer sums).
//   INT4: the unsigned nibbles u = w + 8; the accumulator starts at −4·s_b in both halves,
//     so the halves' sum is Σ u·q − 8·s_b = I_b.
//   INT8: u = w xor 0x80 = w + 128 as an unsigned byte (AVX-512 has no vpsignb); the
//     accumulator starts at −64·s_b per half, so the sum is Σ (w + 128)·q − 128·s_b = I_b.
// Then, per lane, the reference's step 3 in ymm: c = d_b · e_b (block types; d_b for the
// per-row ones), acc = acc + c · float(I_b), blocks in ascending order, mul and add kept
// apart, the per-row scale and bias at the end: bitwise the reference, as the AVX2 tier.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/cpu_features.h"
#include "cpu/matmul_q8act.h"
#include "cpu/matmul_q8act_pack.h"

#pragma GCC optimize("fp-contract=off")  // c · float(I) rounds before the add, as in the reference
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_* as the unused merge source of their
// masked builtins, which -Wmaybe-uninitialized reports at every inlined call.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kllens::cpu {

namespace {

constexpr int64_t kParallelMinMacs = int64_t(1) << 18;  // as matmul_q8act_avx2.cpp

struct PackArgs {
  const PackedWeight* p;
  const float* scale;  // [N] (Q4_C) or null
  const float* bias;   // [N] or null
  float* out; int64_t os;
  const int8_t* q; const float* d; const int32_t* s;  // quantised x: [n, nb·32], [n, nb], [n, nb]
};

// A_0..A_3 of one block of x codes: dwords (2k, 2k + 1) to the (low, high) halves.
inline void act_pairs(const int8_t* xq, __m512i* A) {
  const __m512i x = _mm512_maskz_loadu_epi32(0x00ff, xq);
  for (int k = 0; k < 4; ++k) {
    const __m512i idx = _mm512_set_epi32(2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k);
    A[k] = _mm512_permutexvar_epi32(idx, x);
  }
}

// The 8 rows' I_b from the block's weight vectors W[0..4) (unsigned bytes) and the
// accumulator's start value per half.
inline __m256i block_sums(const __m512i* W, const int8_t* xq, int32_t start) {
  __m512i A[4];
  act_pairs(xq, A);
  __m512i I = _mm512_set1_epi32(start);
  for (int k = 0; k < 4; ++k) I = _mm512_dpbusd_epi32(I, W[k], A[k]);
  return _mm256_add_epi32(_mm512_castsi512_si256(I), _mm512_extracti64x4_epi64(I, 1));
}

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

// Outputs [8g, 8g + 8) of x rows [r0, r0 + NX): the group's blocks in ascending order.
template <bool kQ4, bool kBlockScale, int NX>
void group_rows(const PackArgs& a, int64_t g, int64_t r0) {
  const PackedWeight& p = *a.p;
  const int64_t nb = p.nb;
  constexpr int64_t bb = kQ4 ? 128 : 256;
  const uint8_t* codes = p.codes + size_t(g * nb * bb);
  const uint16_t* sc = kBlockScale ? p.scales + size_t(g * nb) * kPackRows : nullptr;
  __m256 acc[NX];
  for (int r = 0; r < NX; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    // W[k] pairs p_2k | p_2k+1 of the same codes (INT4: low nibbles for k = 0, 1 — codes
    // 0..15 — and high nibbles for k = 2, 3 — codes 16..31).
    __m512i W[4];
    const auto* blk = reinterpret_cast<const __m512i*>(codes + b * bb);
    if constexpr (kQ4) {
      const __m512i m4 = _mm512_set1_epi8(0x0f);
      for (int h = 0; h < 2; ++h) {
        const __m512i v = _mm512_load_si512(blk + h);
        W[h] = _mm512_and_si512(v, m4);
        W[2 + h] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
    } else {
      const __m512i flip = _mm512_set1_epi8(int8_t(0x80));
      for (int k = 0; k < 4; ++k) W[k] = _mm512_xor_si512(_mm512_load_si512(blk + k), flip);
    }
    __m256 e;
    if constexpr (kBlockScale)
      e = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + b * kPackRows)));
    for (int r = 0; r < NX; ++r) {
      const int64_t rb = (r0 + r) * nb + b;
      const __m256i I = block_sums(W, a.q + rb * kActBlock, (kQ4 ? -4 : -64) * a.s[rb]);
      __m256 c = _mm256_set1_ps(a.d[rb]);
      if constexpr (kBlockScale) c = _mm256_mul_ps(c, e);
      acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(c, _mm256_cvtepi32_ps(I)));
    }
  }
  store_outputs(a, g, r0, acc, NX);
}

constexpr int64_t kRowTile = 4;  // as the AVX2 tier: 4 accumulators per group

template <bool kQ4, bool kBlockScale>
void group_tile(const PackArgs& a, int64_t g, int64_t r0, int64_t n) {
  switch (n) {
    case 1: return group_rows<kQ4, kBlockScale, 1>(a, g, r0);
    case 2: return group_rows<kQ4, kBlockScale, 2>(a, g, r0);
    case 3: return group_rows<kQ4, kBlockScale, 3>(a, g, r0);
    default: return group_rows<kQ4, kBlockScale, 4>(a, g, r0);
  }
}

template <bool kQ4, bool kBlockScale>
void packed_matmul(const PackArgs& a, int64_t n) {
  const PackedWeight& p = *a.p;
#pragma omp parallel for schedule(static) if (p.N * p.K * n >= kParallelMinMacs)
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t r0 = 0; r0 < n; r0 += kRowTile) group_tile<kQ4, kBlockScale>(a, g, r0, std::min(kRowTile, n - r0));
}

}  // namespace

void matmul_q8act_packed_avx512(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out) {
  const int64_t n = x.rows(), K = p.K, nb = p.nb;
  const size_t row_q = size_t(nb * kActBlock);
  auto* mem = static_cast<uint8_t*>(scratch_act(size_t(n) * (row_q + 8 * size_t(nb))));
  auto* q = reinterpret_cast<int8_t*>(mem);
  auto* d = reinterpret_cast<float*>(mem + size_t(n) * row_q);
  auto* s = reinterpret_cast<int32_t*>(d + n * nb);
#pragma omp parallel for schedule(static) if (n * K >= (int64_t(1) << 16))  // as matmul_q8act_avx2.cpp
  for (int64_t r = 0; r < n; ++r)
    quantize_act_q8_avx2(x.data<float>() + r * x.row_stride, K, q + size_t(r) * row_q, d + r * nb, s + r * nb);
  PackArgs a;
  a.p = &p;
  a.scale = w.scale.empty() ? nullptr : w.scale.data<float>();
  a.bias = w.bias.empty() ? nullptr : w.bias.data<float>();
  a.out = out.data<float>();
  a.os = out.row_stride;
  a.q = q;
  a.d = d;
  a.s = s;
  switch (p.type) {
    case DType::Q4_0: return packed_matmul<true, true>(a, n);
    case DType::Q4_C: return packed_matmul<true, false>(a, n);
    case DType::Q8_0: return packed_matmul<false, true>(a, n);
    default: return packed_matmul<false, false>(a, n);  // Q8_C (pack_weight's types)
  }
}

}  // namespace kllens::cpu
