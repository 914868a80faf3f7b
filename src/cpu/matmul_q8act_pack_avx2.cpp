// matmul_q8act on packed weights (matmul_q8act_pack.h), AVX2 tier: the decode GEMV and the
// prefill GEMM are one loop (a group of 8 rows against every row of x, 4 at a time).
//
// Per group of 8 rows and block b, INT4: four 32-byte loads give eight vectors of
// unsigned nibbles (and / shift + and); each meets 4 activation codes broadcast to all
// lanes in one vpmaddubsw; the eight int16 results add exactly (see the header), one
// vpmaddwd gives lane r = Σ u·q of row 8g + r, minus 8 · s_b = I_b. INT8: eight loads,
// each |w| · (q with w's sign) in vpmaddubsw, vpmaddwd to int32, added: I_b. Then, per
// lane, exactly the reference's step 3: c = d_b · e_b (block types; d_b for the per-row
// ones), acc = acc + c · float(I_b),
// blocks in ascending order (mul and add kept apart: no FMA, whose single rounding the
// reference does not have), and the per-row scale and bias at the end.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/cpu_features.h"
#include "cpu/matmul_q8act.h"
#include "cpu/matmul_q8act_pack.h"

#pragma GCC optimize("fp-contract=off")  // c · float(I) rounds before the add, as in the reference

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

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Lane r = I_b of row 8g + r against x row codes xq (block sum s): INT4 from the eight
// unpacked nibble vectors w[0..8) (low nibbles of p_0..p_3, then high ones).
inline __m256i block_sums_q4(const __m256i* w, const int8_t* xq, int32_t s) {
  __m256i s16 = _mm256_maddubs_epi16(w[0], bcast4(xq));
  for (int t = 1; t < 4; ++t) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(w[t], bcast4(xq + 4 * t)));
  for (int t = 0; t < 4; ++t) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(w[4 + t], bcast4(xq + 16 + 4 * t)));
  return _mm256_sub_epi32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)), _mm256_set1_epi32(8 * s));
}

// INT8 from the eight signed vectors w[t] and their magnitudes aw[t].
inline __m256i block_sums_q8(const __m256i* w, const __m256i* aw, const int8_t* xq) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i I = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[0], _mm256_sign_epi8(bcast4(xq), w[0])), ones);
  for (int t = 1; t < 8; ++t)
    I = _mm256_add_epi32(I, _mm256_madd_epi16(_mm256_maddubs_epi16(aw[t], _mm256_sign_epi8(bcast4(xq + 4 * t), w[t])), ones));
  return I;
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
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  constexpr int64_t bb = kQ4 ? 128 : 256;
  const uint8_t* codes = p.codes + size_t(g * nb * bb);
  const uint16_t* sc = kBlockScale ? p.scales + size_t(g * nb) * kPackRows : nullptr;
  __m256 acc[NX];
  for (int r = 0; r < NX; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i w[8], aw[8];
    const auto* blk = reinterpret_cast<const __m256i*>(codes + b * bb);
    if constexpr (kQ4) {
      for (int t = 0; t < 4; ++t) {
        const __m256i v = _mm256_load_si256(blk + t);
        w[t] = _mm256_and_si256(v, m4);
        w[4 + t] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      }
    } else {
      for (int t = 0; t < 8; ++t) {
        w[t] = _mm256_load_si256(blk + t);
        aw[t] = _mm256_sign_epi8(w[t], w[t]);
      }
    }
    __m256 e;
    if constexpr (kBlockScale)
      e = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + b * kPackRows)));
    for (int r = 0; r < NX; ++r) {
      const int64_t rb = (r0 + r) * nb + b;
      const int8_t* xq = a.q + rb * kActBlock;
      __m256i I;
      if constexpr (kQ4) I = block_sums_q4(w, xq, a.s[rb]);
      else I = block_sums_q8(w, aw, xq);
      __m256 c = _mm256_set1_ps(a.d[rb]);
      if constexpr (kBlockScale) c = _mm256_mul_ps(c, e);
      acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(c, _mm256_cvtepi32_ps(I)));
    }
  }
  store_outputs(a, g, r0, acc, NX);
}

// x rows per group_rows call: 4 accumulators, and with the 8 unpacked weight vectors
// (INT4) still within the 16 ymm registers.
constexpr int64_t kRowTile = 4;

// Group g against x rows [r0, r0 + n), n ≤ kRowTile.
template <bool kQ4, bool kBlockScale>
void group_tile(const PackArgs& a, int64_t g, int64_t r0, int64_t n) {
  switch (n) {
    case 1: return group_rows<kQ4, kBlockScale, 1>(a, g, r0);
    case 2: return group_rows<kQ4, kBlockScale, 2>(a, g, r0);
    case 3: return group_rows<kQ4, kBlockScale, 3>(a, g, r0);
    default: return group_rows<kQ4, kBlockScale, 4>(a, g, r0);
  }
}

// Groups split statically over the threads; each thread runs all n rows of x against one
// group before the next, so the group's codes (nb · 128 or 256 bytes) stay in L1 while the
// quantised x streams past: decode (n ≤ 3) reads every weight once, prefill reuses each
// group n / 4 times from L1.
template <bool kQ4, bool kBlockScale>
void packed_matmul(const PackArgs& a, int64_t n) {
  const PackedWeight& p = *a.p;
#pragma omp parallel for schedule(static) if (p.N * p.K * n >= kParallelMinMacs)
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t r0 = 0; r0 < n; r0 += kRowTile) group_tile<kQ4, kBlockScale>(a, g, r0, std::min(kRowTile, n - r0));
}

}  // namespace

void matmul_q8act_packed_avx2(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out) {
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
