// Scalar conversion of one stored weight row to F32, for every weight DType.
//
// Layouts are documented in include/kllens/dtype.h. This is the definition of what a
// stored value means; the reference tiers of embed and matmul use it directly and the
// fast tiers are tested against them.
#pragma once

#include <cstdint>

#include "kllens/dtype.h"

namespace kllens::cpu {

// out[0..cols) = value of each element of `row`. `scale` is the row's scale for Q8_C /
// Q4_C (value = scale · q) and is ignored by every other type.
void dequant_row(DType type, const void* row, int64_t cols, float scale, float* out);

// Q4_C nibble k of a row: two's-complement 4-bit, low nibble first.
inline int q4c_value(const uint8_t* row, int64_t k) {
  const int nib = (row[k >> 1] >> ((k & 1) * 4)) & 0xf;
  return nib >= 8 ? nib - 16 : nib;
}

}  // namespace kllens::cpu
