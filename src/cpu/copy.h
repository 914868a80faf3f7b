// copy and fill_zero: data movement without arithmetic. One tier only: each row is a
// memcpy / memset, which the C library already runs at memory speed.
//   copy:      dst[r, :] = src[r, :]     same dtype and shape, rows strided on both sides
//   fill_zero: every element of t = 0    (all-zero bytes are 0 in every dtype)
#pragma once

#include "kllens/tensor.h"

namespace kllens::cpu {

void copy(const Tensor& src, const Tensor& dst);
void fill_zero(const Tensor& t);

}  // namespace kllens::cpu
