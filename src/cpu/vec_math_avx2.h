// Vector transcendental functions for the AVX2 tier (8 floats at a time): exp, log,
// log1p(exp(x)) as torch's softplus, silu, and small load/sum helpers.
//
// Include only from *_avx2.cpp and *_avx512.cpp files. Functions are `static inline` so that no AVX2
// code can be picked by the linker for a caller in a file built without AVX2.
//
// Accuracy (tests/test_cpu_vec_math.cpp measures it against std::exp/std::log1p):
// exp ≤ 2 ulp over its whole range (Cephes' degree-5 minimax polynomial on
// [-ln2/2, ln2/2] after a two-constant Cody–Waite reduction, evaluated with FMA), with
// correct overflow to +inf, gradual underflow and NaN propagation. The scale 2^n is
// applied as two factors 2^(n/2) so that n = 128 (x just below ln(FLT_MAX)) and
// denormal results need no special case.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "cpu/vec_exp.h"

namespace kllens::cpu::avx2 {

namespace {  // NOLINT(google-build-namespaces, cert-dcl59-cpp): internal linkage, as vec_exp.h says
// The operations exp_cephes (vec_exp.h) runs on 8 lanes.
struct Ops8 {
  using F = __m256;
  using I = __m256i;
  static F set(float v) { return _mm256_set1_ps(v); }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F round(F a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  static I cvt(F a) { return _mm256_cvtps_epi32(a); }
  static I half(I a) { return _mm256_srai_epi32(a, 1); }
  static I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static F pow2(I k) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23)); }
};
}  // namespace

static inline __m256 exp8(__m256 x) { return exp_cephes<Ops8>(x); }

// Natural log of positive normal x (Cephes logf: mantissa in [√½, √2), degree-8
// polynomial). Used only on 1 + e^x ≥ 1, so zero, negative and denormal inputs never occur.
static inline __m256 log8(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  __m256 e = _mm256_cvtepi32_ps(
      _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
      _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
  // m in [0.5, 1): move to [√½, √2) so the polynomial argument is small.
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(small, _mm256_set1_ps(1.0f)));
  m = _mm256_add_ps(_mm256_sub_ps(m, _mm256_set1_ps(1.0f)), _mm256_and_ps(small, m));
  const __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

// torch.nn.functional.softplus (beta 1, threshold 20): x > 20 ? x : log1p(exp(x)).
// log1p(v) = log(u) + (v − (u − 1)) / u with u = 1 + v recovers the bits of v lost in
// the rounding of u (exact for small v, where log(u) = 0 and the result is v).
static inline __m256 softplus8(__m256 x) {
  const __m256 v = exp8(x);
  const __m256 u = _mm256_add_ps(v, _mm256_set1_ps(1.0f));
  const __m256 corr = _mm256_div_ps(_mm256_sub_ps(v, _mm256_sub_ps(u, _mm256_set1_ps(1.0f))), u);
  const __m256 sp = _mm256_add_ps(log8(u), corr);
  return _mm256_blendv_ps(sp, x, _mm256_cmp_ps(x, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
}

// silu(x) = x / (1 + e^−x), as torch computes it.
static inline __m256 silu8(__m256 x) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

// Sum of each of 8 vectors, as one vector: out[l] = Σ lanes of v[l] (one fixed tree).
static inline __m256 hsum8_x8(const __m256* v) {
  const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
  const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 consecutive F16 / BF16 values widened to F32.
static inline __m256 load8_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
static inline __m256 load8_bf16(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// Transposes 8 rows of 8 floats (rows `stride` floats apart) into dst[8][8]:
// dst[c][r] = src[r · stride + c].
static inline void transpose8x8(const float* src, int64_t stride, float* dst) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * stride);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * 8, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * 8, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

// The inverse direction: dst[r · stride + c] = src[c][r] for an [8][8] block src.
static inline void transpose8x8_store(const float* src, float* dst, int64_t stride) {
  alignas(32) float tmp[64];
  transpose8x8(src, 8, tmp);
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * stride, _mm256_load_ps(tmp + i * 8));
}

}  // namespace kllens::cpu::avx2
