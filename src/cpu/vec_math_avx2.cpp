// Array wrappers around the AVX2 vector math, for accuracy tests (see vec_math.h).
#include "cpu/vec_math.h"

#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {
template <typename F>
void apply(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {  // the tail through a padded register, so every lane goes through f
    alignas(32) float buf[8] = {};
    for (int64_t j = i; j < n; ++j) buf[j - i] = x[j];
    _mm256_store_ps(buf, f(_mm256_load_ps(buf)));
    for (int64_t j = i; j < n; ++j) y[j] = buf[j - i];
  }
}
}  // namespace

void vec_exp_avx2(const float* x, float* y, int64_t n) { apply(x, y, n, avx2::exp8); }
void vec_softplus_avx2(const float* x, float* y, int64_t n) { apply(x, y, n, avx2::softplus8); }
void vec_silu_avx2(const float* x, float* y, int64_t n) { apply(x, y, n, avx2::silu8); }

}  // namespace kllens::cpu
