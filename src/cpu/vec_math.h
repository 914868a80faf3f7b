// Array forms of the AVX2 tier's vector math (vec_math_avx2.h), so that tests can
// measure its accuracy against the C library. Call only when cpu_has_avx2().
#pragma once

#include <cstdint>

namespace kllens::cpu {

void vec_exp_avx2(const float* x, float* y, int64_t n);
void vec_softplus_avx2(const float* x, float* y, int64_t n);
void vec_silu_avx2(const float* x, float* y, int64_t n);

}  // namespace kllens::cpu
