// rms_norm / add_rms_norm, AVX2 tier: the sum of squares in two 8-lane fp32
// accumulators (then a horizontal sum), rows in parallel when there are many.
#include <cmath>

#include "cpu/rms_norm.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {
// `add` non-null: x += add first (x is the residual row, updated in place).
void norm_row(float* x, const float* add, const float* w, float eps, int64_t H, float* out) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= H; k += 16) {
    __m256 a = _mm256_loadu_ps(x + k), b = _mm256_loadu_ps(x + k + 8);
    if (add) {
      a = _mm256_add_ps(a, _mm256_loadu_ps(add + k));
      b = _mm256_add_ps(b, _mm256_loadu_ps(add + k + 8));
      _mm256_storeu_ps(x + k, a);
      _mm256_storeu_ps(x + k + 8, b);
    }
    s0 = _mm256_fmadd_ps(a, a, s0);
    s1 = _mm256_fmadd_ps(b, b, s1);
  }
  float ss = avx2::hsum8(_mm256_add_ps(s0, s1));
  for (; k < H; ++k) {
    if (add) x[k] += add[k];
    ss += x[k] * x[k];
  }
  const float inv = 1.0f / std::sqrt(ss / float(H) + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  k = 0;
  for (; k + 8 <= H; k += 8)
    _mm256_storeu_ps(out + k, _mm256_mul_ps(_mm256_loadu_ps(w + k),
                                            _mm256_mul_ps(_mm256_loadu_ps(x + k), vinv)));
  for (; k < H; ++k) out[k] = w[k] * (x[k] * inv);
}
}  // namespace

void rms_norm_avx2(const Tensor& x, const Tensor& w, float eps, const Tensor& out) {
  const int64_t n = x.rows(), H = x.cols();
  float* xp = x.data<float>();
  const float* wp = w.data<float>();
  float* op = out.data<float>();
  const int64_t xs = x.row_stride, os = out.row_stride;
#pragma omp parallel for schedule(static) if (n * H > (1 << 16))
  for (int64_t r = 0; r < n; ++r) norm_row(xp + r * xs, nullptr, wp, eps, H, op + r * os);
}

void add_rms_norm_avx2(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                       const Tensor& out) {
  const int64_t n = residual.rows(), H = residual.cols();
  float* rp = residual.data<float>();
  const float* dp = delta.data<float>();
  const float* wp = w.data<float>();
  float* op = out.data<float>();
  const int64_t rs = residual.row_stride, ds = delta.row_stride, os = out.row_stride;
#pragma omp parallel for schedule(static) if (n * H > (1 << 16))
  for (int64_t r = 0; r < n; ++r) norm_row(rp + r * rs, dp + r * ds, wp, eps, H, op + r * os);
}

}  // namespace kllens::cpu
