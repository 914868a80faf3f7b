// ssd_scan, AVX2 tier. Tasks = (sequence, head) over the OpenMP threads; each task runs
// its tokens in order and keeps its [P, N] state in per-thread scratch.
//   T = 1 (decode): the recurrence of ssd_scan_ref, 8 state entries per register.
//   T > 1 (prefill): the chunked algorithm of ssd_scan_chunked_ref on packed per-chunk
//   copies (B, C [Q, N]; X = Δ·x [Q, P]; E = exp(segsum) [Q, Q]), with the contractions
//   over N (C·B, S·C, state update) and over s (Σ_s w_s X[s,:]) as 8-wide FMA loops.
// exp is the vector exp of vec_math_avx2.h (≤ 2 ulp) for whole groups of 8, libm for
// the rest. All sums and states are fp32.
#include <algorithm>
#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/ssd_scan.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {

float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

inline float dot(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = avx2::hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y[0..n) += alpha · x[0..n)
inline void axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

// v[0..n) = exp(v[0..n))
inline void exp_inplace(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, avx2::exp8(_mm256_loadu_ps(v + i)));
  for (; i < n; ++i) v[i] = std::exp(v[i]);
}

struct View {
  const SsdScanArgs* a;
  const float *x, *dt, *dt_bias, *A, *B, *C, *D;
  float *state, *out;
  int64_t xs, ds, bs, cs, ss, os;
  int64_t T, nh, P, N, hpg;
  float* srow(int64_t b, int64_t h, int64_t p) const {
    return state + ((b * nh + h) * P + p) * ss;
  }
  float delta(int64_t r, int64_t h) const {
    const float v = dt[r * ds + h] + dt_bias[h];
    return std::min(std::max(softplus(v), a->dt_min), a->dt_max);
  }
};

// One token for sequence b, head h, directly on the state rows.
void decode_head(const View& v, int64_t b, int64_t h) {
  const int64_t r = b * v.T, g = h / v.hpg, N = v.N;
  const float dt = v.delta(r, h);
  const __m256 dA = _mm256_set1_ps(std::exp(dt * v.A[h]));
  const float* Br = v.B + r * v.bs + g * N;
  const float* Cr = v.C + r * v.cs + g * N;
  float* dtB = scratch_floats(size_t(N));  // Δ·B[n], as the reference rounds it
  for (int64_t n = 0; n < N; ++n) dtB[n] = dt * Br[n];
  for (int64_t p = 0; p < v.P; ++p) {
    const float xp = v.x[r * v.xs + h * v.P + p];
    float* S = v.srow(b, h, p);
    const __m256 vx = _mm256_set1_ps(xp);
    __m256 acc = _mm256_setzero_ps();
    int64_t n = 0;
    for (; n + 8 <= N; n += 8) {
      const __m256 s = _mm256_fmadd_ps(dA, _mm256_loadu_ps(S + n),
                                       _mm256_mul_ps(_mm256_loadu_ps(dtB + n), vx));
      _mm256_storeu_ps(S + n, s);
      acc = _mm256_fmadd_ps(s, _mm256_loadu_ps(Cr + n), acc);
    }
    float y = avx2::hsum8(acc);
    const float dAs = std::exp(dt * v.A[h]);
    for (; n < N; ++n) {
      S[n] = dAs * S[n] + dtB[n] * xp;
      y += S[n] * Cr[n];
    }
    if (v.D) y += v.D[h] * xp;
    v.out[r * v.os + h * v.P + p] = y;
  }
}

// All tokens of sequence b, head h, in chunks of Q.
void prefill_head(const View& v, int64_t b, int64_t h, int64_t Q) {
  const int64_t P = v.P, N = v.N, g = h / v.hpg;
  const float A = v.A[h];
  float* S = scratch_floats(size_t(P * N + Q * (3 + Q + P + 2 * N) + P));
  float* av = S + P * N;     // [Q] a_l
  float* Acum = av + Q;      // [Q] Â_l
  float* w = Acum + Q;       // [Q] one row of (C·B) ∘ E
  float* E = w + Q;          // [Q, Q] exp(segsum), lower triangle
  float* X = E + Q * Q;      // [Q, P] Δ·x
  float* Bc = X + Q * P;     // [Q, N]
  float* Cc = Bc + Q * N;    // [Q, N]
  float* y = Cc + Q * N;     // [P]
  for (int64_t p = 0; p < P; ++p) std::copy_n(v.srow(b, h, p), N, S + p * N);
  for (int64_t c0 = 0; c0 < v.T; c0 += Q) {
    const int64_t L = std::min(Q, v.T - c0);
    for (int64_t l = 0; l < L; ++l) {
      const int64_t r = b * v.T + c0 + l;
      const float dt = v.delta(r, h);
      av[l] = dt * A;
      Acum[l] = (l ? Acum[l - 1] : 0.0f) + av[l];
      const float* xr = v.x + r * v.xs + h * P;
      for (int64_t p = 0; p < P; ++p) X[l * P + p] = xr[p] * dt;
      std::copy_n(v.B + r * v.bs + g * N, N, Bc + l * N);
      std::copy_n(v.C + r * v.cs + g * N, N, Cc + l * N);
    }
    for (int64_t s = 0; s < L; ++s) {  // segsum: cumulative sums down the columns
      float acc = 0.0f;
      E[s * Q + s] = 0.0f;
      for (int64_t l = s + 1; l < L; ++l) E[l * Q + s] = acc += av[l];
    }
    for (int64_t l = 0; l < L; ++l) exp_inplace(E + l * Q, l + 1);
    for (int64_t l = 0; l < L; ++l) {
      const int64_t r = b * v.T + c0 + l;
      const float* Cl = Cc + l * N;
      for (int64_t s = 0; s <= l; ++s) w[s] = dot(Cl, Bc + s * N, N) * E[l * Q + s];
      std::fill_n(y, P, 0.0f);
      for (int64_t s = 0; s <= l; ++s) axpy(w[s], X + s * P, y, P);
      const float eA = std::exp(Acum[l]);
      const float* xr = v.x + r * v.xs + h * P;
      float* o = v.out + r * v.os + h * P;
      for (int64_t p = 0; p < P; ++p) {
        float yp = y[p] + eA * dot(S + p * N, Cl, N);
        if (v.D) yp += v.D[h] * xr[p];
        o[p] = yp;
      }
    }
    // S ← exp(Â_end)·S + Σ_s exp(seg[end, s])·X[s,p]·B_s
    const float eEnd = std::exp(Acum[L - 1]);
    const __m256 ve = _mm256_set1_ps(eEnd);
    int64_t i = 0;
    for (; i + 8 <= P * N; i += 8) _mm256_storeu_ps(S + i, _mm256_mul_ps(ve, _mm256_loadu_ps(S + i)));
    for (; i < P * N; ++i) S[i] *= eEnd;
    const float* Eend = E + (L - 1) * Q;
    for (int64_t s = 0; s < L; ++s)
      for (int64_t p = 0; p < P; ++p) axpy(Eend[s] * X[s * P + p], Bc + s * N, S + p * N, N);
  }
  for (int64_t p = 0; p < P; ++p) std::copy_n(S + p * N, N, v.srow(b, h, p));
}

}  // namespace

void ssd_scan_avx2(const SsdScanArgs& a) {
  View v;
  v.a = &a;
  v.x = a.x.data<float>();
  v.dt = a.dt.data<float>();
  v.dt_bias = a.dt_bias.data<float>();
  v.A = a.A.data<float>();
  v.B = a.B.data<float>();
  v.C = a.C.data<float>();
  v.D = a.D.empty() ? nullptr : a.D.data<float>();
  v.state = a.state.data<float>();
  v.out = a.out.data<float>();
  v.xs = a.x.row_stride;
  v.ds = a.dt.row_stride;
  v.bs = a.B.row_stride;
  v.cs = a.C.row_stride;
  v.ss = a.state.row_stride;
  v.os = a.out.row_stride;
  v.T = a.seqlen;
  v.nh = a.heads;
  v.P = a.head_dim;
  v.N = a.state_size;
  v.hpg = a.heads / a.groups;
  const int64_t tasks = a.batch * v.nh;
  const int64_t Q = std::min(a.chunk, v.T);
  const bool par = tasks > 1 && v.T * v.P * v.N * tasks >= (1 << 15);
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = task / v.nh, h = task % v.nh;
    if (v.T == 1)
      decode_head(v, b, h);
    else
      prefill_head(v, b, h, Q);
  }
}

}  // namespace kllens::cpu
