// silu_mul, AVX2 tier: 8 columns at a time with the vector silu of vec_math_avx2.h
// (exp ≤ 2 ulp, then an exact-order divide), rows over the threads when there are many.
#include <cmath>

#include "cpu/silu_mul.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

void silu_mul_avx2(const Tensor& gate, const Tensor& up, const Tensor& out) {
  const int64_t n = gate.rows(), F = gate.cols();
  const float* gp = gate.data<float>();
  const float* upp = up.data<float>();
  float* op = out.data<float>();
  const int64_t gs = gate.row_stride, us = up.row_stride, os = out.row_stride;
#pragma omp parallel for schedule(static) if (n * F > (1 << 16))
  for (int64_t r = 0; r < n; ++r) {
    const float* g = gp + r * gs;
    const float* u = upp + r * us;
    float* o = op + r * os;
    int64_t k = 0;
    for (; k + 8 <= F; k += 8)
      _mm256_storeu_ps(o + k, _mm256_mul_ps(avx2::silu8(_mm256_loadu_ps(g + k)),
                                            _mm256_loadu_ps(u + k)));
    for (; k < F; ++k) o[k] = (g[k] / (1.0f + std::exp(-g[k]))) * u[k];
  }
}

}  // namespace kllens::cpu
