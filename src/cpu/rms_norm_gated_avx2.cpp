// rms_norm_gated, AVX2 tier: silu and the gate 8 columns at a time (vector exp), the gated
// row kept in per-thread scratch, sums of squares in two 8-lane fp32 accumulators; rows
// over the threads when there are many.
#include <cmath>

#include "cpu/cpu_features.h"
#include "cpu/rms_norm_gated.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

void rms_norm_gated_avx2(const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                         float eps, const Tensor& out) {
  const int64_t n = y.rows(), I = y.cols(), gs = group_size;
  const float* yp = y.data<float>();
  const float* zp = z.data<float>();
  const float* wp = w.data<float>();
  float* op = out.data<float>();
  const int64_t ys = y.row_stride, zs = z.row_stride, os = out.row_stride;
#pragma omp parallel for schedule(static) if (n * I > (1 << 15))
  for (int64_t r = 0; r < n; ++r) {
    float* v = scratch_floats(size_t(I));  // [I] gated row
    const float* yr = yp + r * ys;
    const float* zr = zp + r * zs;
    float* o = op + r * os;
    for (int64_t g0 = 0; g0 < I; g0 += gs) {
      __m256 s0 = _mm256_setzero_ps();
      int64_t k = g0;
      for (; k + 8 <= g0 + gs; k += 8) {
        const __m256 g = _mm256_mul_ps(_mm256_loadu_ps(yr + k), avx2::silu8(_mm256_loadu_ps(zr + k)));
        _mm256_storeu_ps(v + k, g);
        s0 = _mm256_fmadd_ps(g, g, s0);
      }
      float ss = avx2::hsum8(s0);
      for (; k < g0 + gs; ++k) {
        v[k] = yr[k] * (zr[k] / (1.0f + std::exp(-zr[k])));
        ss += v[k] * v[k];
      }
      const float inv = 1.0f / std::sqrt(ss / float(gs) + eps);
      const __m256 vi = _mm256_set1_ps(inv);
      k = g0;
      for (; k + 8 <= g0 + gs; k += 8)
        _mm256_storeu_ps(o + k, _mm256_mul_ps(_mm256_loadu_ps(wp + k),
                                              _mm256_mul_ps(_mm256_loadu_ps(v + k), vi)));
      for (; k < g0 + gs; ++k) o[k] = wp[k] * (v[k] * inv);
    }
  }
}

}  // namespace kllens::cpu
