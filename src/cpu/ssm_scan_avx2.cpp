// ssm_scan, AVX2 tier: 8 channels per register, tasks = (sequence, 64 channels) split
// over the threads. Vectorising over channels (not over N) makes softplus, the D
// skip and the silu gate plain vector ops and needs no horizontal sum for y; B[t,n] and
// C[t,n] are broadcasts. The N state registers of a block live in a small per-thread
// array (L1) between tokens. exp is the vector exp of vec_math_avx2.h (≤ 2 ulp).
// Channels past the last multiple of 8 run the reference formula in scalar code.
// Decode (T = 1) with N a multiple of 8 vectorises over n instead (decode_block): with one
// token there is nothing to keep in registers between tokens, and the transposes of state
// and A to [N][8] and back would cost a third of the step.
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

// Channels per task: 8 register blocks. Inside a task the loop runs token by token over
// its blocks, so each row of u, Δ, z and out is read as whole cache lines in order.
constexpr int64_t kChunk = 64;

// State of sequence b, channels [i0, i0 + 8) to h[N][8], and A's rows to At[N][8].
void load_block(const View& v, int64_t b, int64_t i0, float* h, float* At) {
  const float* st = v.state + (b * v.I + i0) * v.ss;  // rows (b, i0 .. i0+7) of [B·I, N]
  const float* A = v.A + i0 * v.as;                    // rows i0 .. i0+7 of [I, N]
  int64_t n0 = 0;
  for (; n0 + 8 <= v.N; n0 += 8) {  // [8 channels][8 n] → [8 n][8 channels]
    avx2::transpose8x8(A + n0, v.as, At + n0 * 8);
    avx2::transpose8x8(st + n0, v.ss, h + n0 * 8);
  }
  for (int64_t n = n0; n < v.N; ++n)
    for (int64_t l = 0; l < 8; ++l) {
      At[n * 8 + l] = A[l * v.as + n];
      h[n * 8 + l] = st[l * v.ss + n];
    }
}

void store_block(const View& v, int64_t b, int64_t i0, const float* h) {
  float* st = v.state + (b * v.I + i0) * v.ss;
  int64_t n0 = 0;
  for (; n0 + 8 <= v.N; n0 += 8) avx2::transpose8x8_store(h + n0 * 8, st + n0, v.ss);
  for (int64_t n = n0; n < v.N; ++n)
    for (int64_t l = 0; l < 8; ++l) st[l * v.ss + n] = h[n * 8 + l];
}

// Token r (= b·T + t) for channels [i0, i0 + 8), state h[N][8] updated in place.
inline void step_block(const View& v, int64_t r, int64_t i0, float* h, const float* At) {
  __m256 dt = _mm256_loadu_ps(v.delta + r * v.ds + i0);
  if (v.softplus) dt = avx2::softplus8(dt);
  const __m256 uu = _mm256_loadu_ps(v.u + r * v.us + i0);
  const float* Br = v.B + r * v.bs;
  const float* Cr = v.C + r * v.cs;
  __m256 y = _mm256_setzero_ps();
  for (int64_t n = 0; n < v.N; ++n) {
    const __m256 dA = avx2::exp8(_mm256_mul_ps(dt, _mm256_load_ps(At + n * 8)));
    const __m256 dBu = _mm256_mul_ps(_mm256_mul_ps(dt, _mm256_broadcast_ss(Br + n)), uu);
    const __m256 hn = _mm256_fmadd_ps(dA, _mm256_load_ps(h + n * 8), dBu);
    _mm256_store_ps(h + n * 8, hn);
    y = _mm256_fmadd_ps(hn, _mm256_broadcast_ss(Cr + n), y);
  }
  if (v.D) y = _mm256_fmadd_ps(uu, _mm256_loadu_ps(v.D + i0), y);
  if (v.z) y = _mm256_mul_ps(y, avx2::silu8(_mm256_loadu_ps(v.z + r * v.zs + i0)));
  _mm256_storeu_ps(v.out + r * v.os + i0, y);
}

// Decode: the one token of sequence b for channels [i0, i0 + 8), N % 8 == 0. Channel i's
// state row h[i, :] and A[i, :] are contiguous, B and C are the token's rows shared by
// all channels, and y[i] is the horizontal sum of h[i, :]·C.
inline void decode_block(const View& v, int64_t b, int64_t i0) {
  __m256 dt8 = _mm256_loadu_ps(v.delta + b * v.ds + i0);
  if (v.softplus) dt8 = avx2::softplus8(dt8);
  const __m256 uu = _mm256_loadu_ps(v.u + b * v.us + i0);
  alignas(32) float dt[8], u[8];
  _mm256_store_ps(dt, dt8);
  _mm256_store_ps(u, uu);
  const float* Br = v.B + b * v.bs;
  const float* Cr = v.C + b * v.cs;
  __m256 acc[8];
  for (int l = 0; l < 8; ++l) {
    const __m256 d = _mm256_set1_ps(dt[l]), ul = _mm256_set1_ps(u[l]);
    const float* A = v.A + (i0 + l) * v.as;
    float* h = v.state + (b * v.I + i0 + l) * v.ss;
    acc[l] = _mm256_setzero_ps();
    for (int64_t n = 0; n < v.N; n += 8) {
      const __m256 dA = avx2::exp8(_mm256_mul_ps(d, _mm256_loadu_ps(A + n)));
      const __m256 dBu = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(Br + n)), ul);
      const __m256 hn = _mm256_fmadd_ps(dA, _mm256_loadu_ps(h + n), dBu);
      _mm256_storeu_ps(h + n, hn);
      acc[l] = _mm256_fmadd_ps(hn, _mm256_loadu_ps(Cr + n), acc[l]);
    }
  }
  __m256 y = avx2::hsum8_x8(acc);
  if (v.D) y = _mm256_fmadd_ps(uu, _mm256_loadu_ps(v.D + i0), y);
  if (v.z) y = _mm256_mul_ps(y, avx2::silu8(_mm256_loadu_ps(v.z + b * v.zs + i0)));
  _mm256_storeu_ps(v.out + b * v.os + i0, y);
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

View view_of(const SsmScanArgs& a) {
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
  return v;
}

// Decode (T = 1, N % 8 == 0) of sequence b, channels [i0, i1): whole blocks of 8, the
// rest in scalar code.
void decode_range(const View& v, int64_t b, int64_t i0, int64_t i1) {
  const int64_t nblk = (i1 - i0) / 8;
  for (int64_t blk = 0; blk < nblk; ++blk) decode_block(v, b, i0 + blk * 8);
  float* h = nblk * 8 < i1 - i0 ? scratch_floats(size_t(v.N)) : nullptr;
  for (int64_t i = i0 + nblk * 8; i < i1; ++i) scan_channel(v, b, i, h);
}

}  // namespace

void ssm_scan_avx2_decode(const SsmScanArgs& a, int64_t b, int64_t i0, int64_t i1) {
  decode_range(view_of(a), b, i0, i1);
}

void ssm_scan_avx2(const SsmScanArgs& a) {
  const View v = view_of(a);
  const int64_t chunks = (v.I + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (a.batch * v.T * v.I * v.N >= (1 << 14))
  for (int64_t task = 0; task < a.batch * chunks; ++task) {
    const int64_t b = task / chunks, ib = (task % chunks) * kChunk;
    const int64_t ie = ib + kChunk < v.I ? ib + kChunk : v.I;
    if (v.T == 1 && v.N % 8 == 0) {
      decode_range(v, b, ib, ie);
      continue;
    }
    const int64_t nblk = (ie - ib) / 8;  // whole register blocks; the rest runs scalar
    // Scratch: [blk][N][8] h, then At, then [N] for the scalar channels.
    float* h = scratch_floats(size_t(nblk * 16 * v.N + v.N));
    float* At = h + nblk * 8 * v.N;
    for (int64_t blk = 0; blk < nblk; ++blk)
      load_block(v, b, ib + blk * 8, h + blk * 8 * v.N, At + blk * 8 * v.N);
    for (int64_t t = 0; t < v.T; ++t)
      for (int64_t blk = 0; blk < nblk; ++blk)
        step_block(v, b * v.T + t, ib + blk * 8, h + blk * 8 * v.N, At + blk * 8 * v.N);
    for (int64_t blk = 0; blk < nblk; ++blk) store_block(v, b, ib + blk * 8, h + blk * 8 * v.N);
    for (int64_t i = ib + nblk * 8; i < ie; ++i) scan_channel(v, b, i, At + nblk * 8 * v.N);
  }
}

}  // namespace kllens::cpu
