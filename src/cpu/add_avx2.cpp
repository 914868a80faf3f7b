// add, AVX2 tier: 8 floats per instruction, rows split over the threads when large.
#include <immintrin.h>

#include "cpu/add.h"

namespace kllens::cpu {

void add_avx2(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = a.rows(), C = a.cols();
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* op = out.data<float>();
  const int64_t as = a.row_stride, bs = b.row_stride, os = out.row_stride;
#pragma omp parallel for schedule(static) if (n * C >= (1 << 18))
  for (int64_t r = 0; r < n; ++r) {
    const float* x = ap + r * as;
    const float* y = bp + r * bs;
    float* o = op + r * os;
    int64_t c = 0;
    for (; c + 8 <= C; c += 8)
      _mm256_storeu_ps(o + c, _mm256_add_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(y + c)));
    for (; c < C; ++c) o[c] = x[c] + y[c];
  }
}

}  // namespace kllens::cpu
