// rms_norm and its fused residual form add_rms_norm (the boundary between pre-norm blocks).
//   rms_norm:      out[r,:] = w ⊙ (x[r,:] · 1/sqrt(mean(x[r,:]²) + eps))
//   add_rms_norm:  residual[r,:] += delta[r,:];  out[r,:] = rms_norm(residual[r,:])
// x, residual, delta, out F32 [n, H] (rows may be strided), w F32 [H].
// The mean of squares accumulates in fp32 (torch's fp32 RMSNorm does the same).
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

void rms_norm_ref(const Tensor& x, const Tensor& w, float eps, const Tensor& out);
void rms_norm_avx2(const Tensor& x, const Tensor& w, float eps, const Tensor& out);
void rms_norm(CpuTier tier, const Tensor& x, const Tensor& w, float eps, const Tensor& out);

void add_rms_norm_ref(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                      const Tensor& out);
void add_rms_norm_avx2(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                       const Tensor& out);
void add_rms_norm(CpuTier tier, const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                  const Tensor& out);

}  // namespace kllens::cpu
