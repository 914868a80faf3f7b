// ssm_scan, AVX-512 tier: decode (T = 1) with N = 16 (Mamba-1's and Hymba's state size),
// where one zmm holds a channel's whole state row, so the step's exp, products and state
// update take one instruction each per channel instead of the AVX2 tier's two. Every other
// shape runs the AVX2 tier.
//
// Bitwise the AVX2 tier's decode (ssm_scan_avx2.cpp, decode_block), lane for lane: the
// same softplus8 and silu8, exp16 the same operations as exp8 (vec_exp.h), and y of each
// channel summed as there: t = h·C + 0 for n < 8 (the low half of one zmm fma), then
// acc = h·C + t for n ≥ 8 (one ymm fma), and the 8 channels' acc through hsum8_x8. Tasks
// (sequence, 64 channels) as the AVX2 tier; a task's channels past its last whole block
// of 8 run the AVX2 tier's code for them.
#include <immintrin.h>

#include "cpu/ssm_scan.h"
#include "cpu/vec_math_avx2.h"
#include "cpu/vec_math_avx512.h"

namespace kllens::cpu {

namespace {

constexpr int64_t kN = 16;
constexpr int64_t kChunk = 64;  // channels per task, as ssm_scan_avx2.cpp

struct View {
  const float *u, *delta, *A, *B, *C, *D, *z;  // the token's rows (u, delta, B, C, z) of sequence b
  float *state, *out;
  int64_t as, ss;
  bool softplus;
};

View view_of(const SsmScanArgs& a, int64_t b) {
  View v;
  v.u = a.u.data<float>() + b * a.u.row_stride;
  v.delta = a.delta.data<float>() + b * a.delta.row_stride;
  v.A = a.A.data<float>();
  v.B = a.B.data<float>() + b * a.B.row_stride;
  v.C = a.C.data<float>() + b * a.C.row_stride;
  v.D = a.D.empty() ? nullptr : a.D.data<float>();
  v.z = a.z.empty() ? nullptr : a.z.data<float>() + b * a.z.row_stride;
  v.state = a.state.data<float>() + b * a.u.cols() * a.state.row_stride;
  v.out = a.out.data<float>() + b * a.out.row_stride;
  v.as = a.A.row_stride;
  v.ss = a.state.row_stride;
  v.softplus = a.delta_softplus;
  return v;
}

// Channels [i0, i0 + 8): state rows h[i, :] and A[i, :] one zmm each, B and C the token's.
inline void decode_block(const View& v, int64_t i0, __m512 B, __m512 C) {
  const __m256 C_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(C), 1));
  __m256 dt8 = _mm256_loadu_ps(v.delta + i0);
  if (v.softplus) dt8 = avx2::softplus8(dt8);
  const __m256 uu = _mm256_loadu_ps(v.u + i0);
  alignas(32) float dt[8], u[8];
  _mm256_store_ps(dt, dt8);
  _mm256_store_ps(u, uu);
  __m256 acc[8];
  for (int l = 0; l < 8; ++l) {
    const __m512 d = _mm512_set1_ps(dt[l]);
    float* h = v.state + (i0 + l) * v.ss;
    const __m512 dA = avx512::exp16(_mm512_mul_ps(d, _mm512_loadu_ps(v.A + (i0 + l) * v.as)));
    const __m512 dBu = _mm512_mul_ps(_mm512_mul_ps(d, B), _mm512_set1_ps(u[l]));
    const __m512 hn = _mm512_fmadd_ps(dA, _mm512_loadu_ps(h), dBu);
    _mm512_storeu_ps(h, hn);
    const __m256 t = _mm512_castps512_ps256(_mm512_fmadd_ps(hn, C, _mm512_setzero_ps()));
    const __m256 h_hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(hn), 1));
    acc[l] = _mm256_fmadd_ps(h_hi, C_hi, t);
  }
  __m256 y = avx2::hsum8_x8(acc);
  if (v.D) y = _mm256_fmadd_ps(uu, _mm256_loadu_ps(v.D + i0), y);
  if (v.z) y = _mm256_mul_ps(y, avx2::silu8(_mm256_loadu_ps(v.z + i0)));
  _mm256_storeu_ps(v.out + i0, y);
}

}  // namespace

void ssm_scan_avx512(const SsmScanArgs& a) {
  const int64_t I = a.u.cols();
  if (a.seqlen != 1 || a.A.cols() != kN) return ssm_scan_avx2(a);
  const int64_t chunks = (I + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (a.batch * I * kN >= (1 << 14))  // as the AVX2 tier
  for (int64_t task = 0; task < a.batch * chunks; ++task) {
    const int64_t b = task / chunks, ib = (task % chunks) * kChunk;
    const int64_t ie = ib + kChunk < I ? ib + kChunk : I;
    const View v = view_of(a, b);
    const __m512 B = _mm512_loadu_ps(v.B), C = _mm512_loadu_ps(v.C);
    const int64_t nblk = (ie - ib) / 8;
    for (int64_t blk = 0; blk < nblk; ++blk) decode_block(v, ib + blk * 8, B, C);
    if (ib + nblk * 8 < ie) ssm_scan_avx2_decode(a, b, ib + nblk * 8, ie);
  }
}

}  // namespace kllens::cpu
