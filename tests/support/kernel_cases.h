// Inputs for the CPU kernel tests: random tensors in each op's real domain with fixed
// seeds, strided (column-slice) layouts and stored weights of every type. The scalar
// tier runs through the production dispatch on make_cpu_backend(CpuTier::reference).
//
// A "strided" tensor here is a column slice [rows, cols] out of a wider [rows, cols + pad]
// allocation, starting at column pad / 2, so kernels see row_stride ≠ cols and an
// unaligned first element, as with the x / z halves of Mamba's in_proj output.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kllens/backend.h"

namespace kllens::test {

// Uniform F32 values in [lo, hi) as a [rows, cols] tensor; pad > 0 makes it strided.
Tensor random_f32(Backend& be, std::mt19937& rng, int64_t rows, int64_t cols, float lo, float hi,
                  int64_t pad = 0);
// A tensor with the same shape, stride and column offset as t, holding a copy of it.
Tensor clone(Backend& be, const Tensor& t);
// The elements of t, rows packed.
std::vector<float> to_host(Backend& be, const Tensor& t);

// A random stored weight [N, K] of `type` whose values are about ±1 (quantised types:
// random codes with scales chosen so that |value| ≤ 1), with Weight::scale for Q8_C/Q4_C.
Weight random_weight(Backend& be, std::mt19937& rng, DType type, int64_t N, int64_t K,
                     bool bias);

}  // namespace kllens::test
