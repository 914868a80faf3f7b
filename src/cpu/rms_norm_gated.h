// rms_norm_gated: Mamba-2's gated RMSNorm (norm_before_gate = False), per group, as
// mamba_ssm's RMSNormGated(group_size) computes it (specs/mamba.md §5.1 step 6, §7.1):
//   v[k]   = y[r,k] · silu(z[r,k])                     silu(z) = z / (1 + e^−z)
//   out[k] = w[k] · (v[k] · 1/sqrt(Σ_{k∈group} v[k]² / gs + eps))   groups of gs columns
// y, z, out F32 [n, I] (rows may be strided; out may alias y exactly), w F32 [I],
// I a multiple of gs. Sums of squares in fp32.
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

void rms_norm_gated_ref(const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                        float eps, const Tensor& out);
void rms_norm_gated_avx2(const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                         float eps, const Tensor& out);
void rms_norm_gated(CpuTier tier, const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                    float eps, const Tensor& out);

}  // namespace kllens::cpu
