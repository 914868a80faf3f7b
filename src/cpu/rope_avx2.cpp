// rope, AVX2 tier: the cos/sin of a row's position once (rope_angles, shared with the
// reference), then every head rotated 8 pairs at a time (the compiler may fuse a multiply
// and the add into an FMA: ≤ 1 ulp from the reference). Rows over the threads.
#include "cpu/cpu_features.h"
#include "cpu/rope.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

void rope_avx2(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
               int64_t past, int64_t heads, int64_t head_dim) {
  const int64_t half = head_dim / 2, rows = batch * seqlen;
  float* xp = x.data<float>();
  const float* inv = inv_freq.data<float>();
  const int64_t xs = x.row_stride;
#pragma omp parallel for schedule(static) if (rows * heads * head_dim > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    float* cs = scratch_floats(size_t(2 * half));  // [cos | sin]
    rope_angles(inv, past + r % seqlen, half, cs);
    float* row = xp + r * xs;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = row + h * head_dim;
      int64_t k = 0;
      for (; k + 8 <= half; k += 8) {
        const __m256 x1 = _mm256_loadu_ps(v + k), x2 = _mm256_loadu_ps(v + k + half);
        const __m256 c = _mm256_loadu_ps(cs + k), s = _mm256_loadu_ps(cs + half + k);
        _mm256_storeu_ps(v + k, _mm256_sub_ps(_mm256_mul_ps(x1, c), _mm256_mul_ps(x2, s)));
        _mm256_storeu_ps(v + k + half, _mm256_add_ps(_mm256_mul_ps(x2, c), _mm256_mul_ps(x1, s)));
      }
      for (; k < half; ++k) {
        const float x1 = v[k], x2 = v[k + half], c = cs[k], s = cs[half + k];
        v[k] = x1 * c - x2 * s;
        v[k + half] = x2 * c + x1 * s;
      }
    }
  }
}

}  // namespace kllens::cpu
