// silu_mul: the SwiGLU product of a gated MLP.
//   out[r,k] = silu(gate[r,k]) · up[r,k],   silu(g) = g / (1 + e^−g)   (torch's order)
// gate, up, out F32 [n, F] (rows may be strided; out may alias gate or up exactly).
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

void silu_mul_ref(const Tensor& gate, const Tensor& up, const Tensor& out);
void silu_mul_avx2(const Tensor& gate, const Tensor& up, const Tensor& out);
void silu_mul(CpuTier tier, const Tensor& gate, const Tensor& up, const Tensor& out);

}  // namespace kllens::cpu
