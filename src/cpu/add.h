// add: out = a + b, elementwise. a, b, out F32 [n, C] (rows may be strided; out may alias
// a or b).
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

void add_ref(const Tensor& a, const Tensor& b, const Tensor& out);
void add_avx2(const Tensor& a, const Tensor& b, const Tensor& out);
void add(CpuTier tier, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace kllens::cpu
