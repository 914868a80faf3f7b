// argmax, AVX2 tier: 8 lanes each keep their maximum and the first index reaching it
// (strict greater, so NaN never wins), merged to the lowest index among the lanes holding
// the overall maximum. Rows in parallel.
#include <immintrin.h>

#include <cmath>

#include "cpu/argmax.h"

namespace kllens::cpu {

namespace {

int32_t argmax_row(const float* z, int64_t V) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  __m256i arg = _mm256_set1_epi32(0);
  __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i eight = _mm256_set1_epi32(8);
  int64_t v = 0;
  for (; v + 8 <= V; v += 8) {
    const __m256 x = _mm256_loadu_ps(z + v);
    const __m256 gt = _mm256_cmp_ps(x, m, _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, x, gt);
    arg = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(arg), _mm256_castsi256_ps(idx), gt));
    idx = _mm256_add_epi32(idx, eight);
  }
  alignas(32) float lm[8];
  alignas(32) int32_t la[8];
  _mm256_store_ps(lm, m);
  _mm256_store_si256(reinterpret_cast<__m256i*>(la), arg);
  float best = -INFINITY;
  int64_t bi = 0;
  for (int l = 0; l < 8; ++l)
    if (lm[l] > best || (lm[l] == best && best != -INFINITY && la[l] < bi)) best = lm[l], bi = la[l];
  for (; v < V; ++v)
    if (z[v] > best) best = z[v], bi = v;
  return int32_t(bi);
}

}  // namespace

void argmax_avx2(const Tensor& logits, const Tensor& out) {
  const int64_t n = logits.rows(), V = logits.cols();
  const float* lp = logits.data<float>();
  int32_t* op = out.data<int32_t>();
  const int64_t ls = logits.row_stride;
#pragma omp parallel for schedule(static) if (n * V > (1 << 16))
  for (int64_t r = 0; r < n; ++r) op[r] = argmax_row(lp + r * ls, V);
}

}  // namespace kllens::cpu
