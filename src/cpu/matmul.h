// matmul: a linear layer, weights in their storage type, dequantised inside the kernel.
//   out[r, j] = Σ_k x[r, k] · W[j, k] (+ bias[j])
// x F32 [n, K] (strided rows), W [N, K] in F32 / F16 / BF16 / Q8_C / Q4_C / Q8_0 / Q4_0
// (Weight::scale F32 [N] for Q8_C / Q4_C), bias F32 [N] or empty, out F32 [n, N]
// (strided rows). The AVX2 tier runs a GEMV for small n (decode: W streamed once) and a
// packed GEMM for larger n (prefill: each W panel reused across all rows of x).
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

void matmul_ref(const Tensor& x, const Weight& w, const Tensor& out);
void matmul_avx2(const Tensor& x, const Weight& w, const Tensor& out);
void matmul(CpuTier tier, const Tensor& x, const Weight& w, const Tensor& out);

}  // namespace kllens::cpu
