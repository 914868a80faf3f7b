// kl_reduce, AVX2 tier: the reference's one-pass fp64 algorithm on 4 lanes (4 fp32 logits
// widened per step), each lane with its own running maxima; lanes are merged with the
// usual log-sum-exp rescaling and the V mod 4 tail is finished by the scalar accumulator.
// Rows in parallel. exp is an fp64 polynomial (≤ 1 ulp on the arguments used here, ≤ 0).
#include <immintrin.h>

#include <cmath>

#include "cpu/kl_reduce.h"

namespace kllens::cpu {

namespace {

// e^x for x ≤ 0 in fp64: x = n·ln2 + r with |r| ≤ ln2/2 (two-constant Cody–Waite), e^r
// by its Taylor series to degree 13 (truncation < 5e-18 relative), times 2^n built in the
// exponent bits. x < −708 (including −∞) gives 0: such terms are < 1e-307 of the sum.
static inline __m256d exp4d(__m256d x) {
  const __m256d tiny = _mm256_cmp_pd(x, _mm256_set1_pd(-708.0), _CMP_GE_OQ);
  x = _mm256_max_pd(x, _mm256_set1_pd(-708.0));
  const __m256d n = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.4426950408889634074)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(6.93147180369123816490e-01), x);
  r = _mm256_fnmadd_pd(n, _mm256_set1_pd(1.90821492927058770002e-10), r);
  static constexpr double kInvFact[14] = {
      1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
      1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};
  __m256d p = _mm256_set1_pd(kInvFact[13]);
  for (int k = 12; k >= 0; --k) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(kInvFact[k]));
  const __m128i ni = _mm256_cvtpd_epi32(n);  // in [−1022, 0]
  const __m256i bits =
      _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(ni), _mm256_set1_epi64x(1023)), 52);
  return _mm256_and_pd(_mm256_mul_pd(p, _mm256_castsi256_pd(bits)), tiny);
}

// Four lanes of KlAccum.
struct Lanes {
  __m256d m = _mm256_set1_pd(-INFINITY), S = _mm256_setzero_pd(), A = _mm256_setzero_pd();
  __m256d arg = _mm256_set1_pd(-1.0);  // first index of each lane's maximum (exact in fp64)

  void add(__m256d z, __m256d d, __m256d idx) {
    const __m256d gt = _mm256_cmp_pd(z, m, _CMP_GT_OQ);
    if (_mm256_movemask_pd(gt)) {  // rare after the first few steps
      const __m256d nm = _mm256_max_pd(m, z);
      const __m256d f = exp4d(_mm256_sub_pd(m, nm));
      S = _mm256_mul_pd(S, f);
      A = _mm256_mul_pd(A, f);
      m = nm;
      arg = _mm256_blendv_pd(arg, idx, gt);
    }
    const __m256d e = exp4d(_mm256_sub_pd(z, m));
    S = _mm256_add_pd(S, e);
    A = _mm256_fmadd_pd(e, d, A);
  }

  // Merges the lanes into one accumulator (ties of the maximum: the lowest index).
  KlAccum merge() const {
    alignas(32) double lm[4], lS[4], lA[4], la[4];
    _mm256_store_pd(lm, m);
    _mm256_store_pd(lS, S);
    _mm256_store_pd(lA, A);
    _mm256_store_pd(la, arg);
    KlAccum out;
    for (int l = 0; l < 4; ++l)
      if (lm[l] > out.m || (lm[l] == out.m && la[l] < double(out.arg))) {
        out.m = lm[l];
        out.arg = int64_t(la[l]);
      }
    if (out.m == -INFINITY) return KlAccum{};
    for (int l = 0; l < 4; ++l) {
      if (lm[l] == -INFINITY) continue;
      const double f = std::exp(lm[l] - out.m);
      out.S += lS[l] * f;
      out.A += lA[l] * f;
    }
    return out;
  }
};

static inline double hsum4d(__m256d v) {
  alignas(32) double t[4];
  _mm256_store_pd(t, v);
  return (t[0] + t[1]) + (t[2] + t[3]);
}

void kl_row(const float* zt, const float* zs, int64_t V, int32_t target, float* out) {
  Lanes t, s;
  __m256d sq = _mm256_setzero_pd(), tt = _mm256_setzero_pd();
  __m256d idx = _mm256_set_pd(3, 2, 1, 0);
  const __m256d four = _mm256_set1_pd(4.0);
  int64_t v = 0;
  for (; v + 4 <= V; v += 4) {
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(zt + v));
    const __m256d b = _mm256_cvtps_pd(_mm_loadu_ps(zs + v));
    const __m256d d = _mm256_sub_pd(a, b);
    t.add(a, d, idx);
    s.add(b, d, idx);
    sq = _mm256_fmadd_pd(d, d, sq);
    tt = _mm256_fmadd_pd(a, a, tt);
    idx = _mm256_add_pd(idx, four);
  }
  KlAccum T = t.merge(), S = s.merge();
  double sqs = hsum4d(sq), tts = hsum4d(tt);
  for (; v < V; ++v) {
    const double a = zt[v], b = zs[v], d = a - b;
    T.add(a, d, v);
    S.add(b, d, v);
    sqs += d * d;
    tts += a * a;
  }
  kl_finish_row(T, S, sqs, tts, zt, zs, target, out);
}

}  // namespace

void kl_reduce_avx2(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                    const Tensor& out) {
  const int64_t n = teacher.rows(), V = teacher.cols();
  const float* tp = teacher.data<float>();
  const float* sp = student.data<float>();
  const int32_t* tg = targets.data<int32_t>();
  float* op = out.data<float>();
  const int64_t ts = teacher.row_stride, ss = student.row_stride, os = out.row_stride;
#pragma omp parallel for schedule(dynamic, 4) if (n * V > (1 << 15))
  for (int64_t r = 0; r < n; ++r) kl_row(tp + r * ts, sp + r * ss, V, tg[r], op + r * os);
}

}  // namespace kllens::cpu
