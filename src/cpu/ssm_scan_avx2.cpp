// ssm_scan, AVX2 tier: 8 channels per register, tasks = (sequence, block of 8 channels)
// split over the threads. Vectorising over channels (not over N) makes softplus, the D
// skip and the silu gate plain vector ops and needs no horizontal sum for y; B[t,n] and
// C[t,n] are broadcasts. The N state registers of a block live in a small per-thread
// array (L1) between tokens. exp is the vector exp of vec_math_avx2.h (≤ 2 ulp).
// Channels past the last multiple of 8 run the reference formula in scalar code.
#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/ssm_scan.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {

struct View {
  const float *u, *delta, *A, *B, *C, *D, *z;
  float *state, *out;
  int64_t us, ds, as, bs, cs, zs, ss, os;
  int64_t T, I, N;
  bool softplus;
};

// Sequence b, channels [i0, i0 + 8).
void scan_block8(const View& v, int64_t b, int64_t i0, float* h /*[N][8]*/, float* At /*[N][8]*/) {
  const int64_t N = v.N;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t l = 0; l < 8; ++l) {
      At[n * 8 + l] = v.A[(i0 + l) * v.as + n];
      h[n * 8 + l] = v.state[(b * v.I + i0 + l) * v.ss + n];
    }
  const __m256 Dv = v.D ? _mm256_loadu_ps(v.D + i0) : _mm256_setzero_ps();
  for (int64_t t = 0; t < v.T; ++t) {
    const int64_t r = b * v.T + t;
    __m256 dt = _mm256_loadu_ps(v.delta + r * v.ds + i0);
    if (v.softplus) dt = avx2::softplus8(dt);
    const __m256 uu = _mm256_loadu_ps(v.u + r * v.us + i0);
    const float* Br = v.B + r * v.bs;
    const float* Cr = v.C + r * v.cs;
    __m256 y = _mm256_setzero_ps();
    for (int64_t n = 0; n < N; ++n) {
      const __m256 dA = avx2::exp8(_mm256_mul_ps(dt, _mm256_load_ps(At + n * 8)));
      const __m256 dBu = _mm256_mul_ps(_mm256_mul_ps(dt, _mm256_broadcast_ss(Br + n)), uu);
      const __m256 hn = _mm256_fmadd_ps(dA, _mm256_load_ps(h + n * 8), dBu);
      _mm256_store_ps(h + n * 8, hn);
      y = _mm256_fmadd_ps(hn, _mm256_broadcast_ss(Cr + n), y);
    }
    if (v.D) y = _mm256_fmadd_ps(uu, Dv, y);
    if (v.z) y = _mm256_mul_ps(y, avx2::silu8(_mm256_loadu_ps(v.z + r * v.zs + i0)));
    _mm256_storeu_ps(v.out + r * v.os + i0, y);
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t l = 0; l < 8; ++l) v.state[(b * v.I + i0 + l) * v.ss + n] = h[n * 8 + l];
}

// Sequence b, one channel i: the reference formula.
void scan_channel(const View& v, int64_t b, int64_t i, float* h /*[N]*/) {
  float* st = v.state + (b * v.I + i) * v.ss;
  for (int64_t n = 0; n < v.N; ++n) h[n] = st[n];
  for (int64_t t = 0; t < v.T; ++t) {
    const int64_t r = b * v.T + t;
    float dt = v.delta[r * v.ds + i];
    if (v.softplus) dt = dt > 20.0f ? dt : std::log1p(std::exp(dt));
    const float ui = v.u[r * v.us + i];
    float y = 0.0f;
    for (int64_t n = 0; n < v.N; ++n) {
      h[n] = std::exp(dt * v.A[i * v.as + n]) * h[n] + (dt * v.B[r * v.bs + n]) * ui;
      y += h[n] * v.C[r * v.cs + n];
    }
    if (v.D) y += ui * v.D[i];
    if (v.z) {
      const float g = v.z[r * v.zs + i];
      y *= g / (1.0f + std::exp(-g));
    }
    v.out[r * v.os + i] = y;
  }
  for (int64_t n = 0; n < v.N; ++n) st[n] = h[n];
}

}  // namespace

void ssm_scan_avx2(const SsmScanArgs& a) {
  View v;
  v.u = a.u.data<float>();
  v.delta = a.delta.data<float>();
  v.A = a.A.data<float>();
  v.B = a.B.data<float>();
  v.C = a.C.data<float>();
  v.D = a.D.empty() ? nullptr : a.D.data<float>();
  v.z = a.z.empty() ? nullptr : a.z.data<float>();
  v.state = a.state.data<float>();
  v.out = a.out.data<float>();
  v.us = a.u.row_stride;
  v.ds = a.delta.row_stride;
  v.as = a.A.row_stride;
  v.bs = a.B.row_stride;
  v.cs = a.C.row_stride;
  v.zs = a.z.empty() ? 0 : a.z.row_stride;
  v.ss = a.state.row_stride;
  v.os = a.out.row_stride;
  v.T = a.seqlen;
  v.I = a.u.cols();
  v.N = a.A.cols();
  v.softplus = a.delta_softplus;

  const int64_t blocks = (v.I + 7) / 8;  // the last one may be partial
  const int64_t tasks = a.batch * blocks;
#pragma omp parallel for schedule(static) if (a.batch * v.T * v.I * v.N >= (1 << 14))
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = task / blocks, i0 = (task % blocks) * 8;
    float* scratch = scratch_floats(size_t(v.N) * 16);
    if (i0 + 8 <= v.I) {
      scan_block8(v, b, i0, scratch, scratch + v.N * 8);
    } else {
      for (int64_t i = i0; i < v.I; ++i) scan_channel(v, b, i, scratch);
    }
  }
}

}  // namespace kllens::cpu
