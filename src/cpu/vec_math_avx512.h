// exp for the AVX-512 tier, 16 floats at a time: exp_cephes (vec_exp.h) on zmm, so lane
// for lane the bits of avx2::exp8, and a kernel that swaps one for the other changes none.
//
// Include only from *_avx512.cpp files; `static inline` for the reason vec_math_avx2.h gives.
#pragma once

#include <immintrin.h>

#include "cpu/vec_exp.h"

namespace kllens::cpu::avx512 {

namespace {  // NOLINT(google-build-namespaces, cert-dcl59-cpp): internal linkage, as vec_exp.h says
// The operations exp_cephes runs on 16 lanes (AVX-512 F).
struct Ops16 {
  using F = __m512;
  using I = __m512i;
  static F set(float v) { return _mm512_set1_ps(v); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F round(F a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static I cvt(F a) { return _mm512_cvtps_epi32(a); }
  static I half(I a) { return _mm512_srai_epi32(a, 1); }
  static I isub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static F pow2(I k) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23)); }
};
}  // namespace

static inline __m512 exp16(__m512 x) { return exp_cephes<Ops16>(x); }

}  // namespace kllens::cpu::avx512
