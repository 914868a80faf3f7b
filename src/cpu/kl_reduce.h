// kl_reduce: per-token comparison of a student's next-token distribution with a teacher's,
// one pass over the vocabulary with online log-sum-exp (the lens's fused KL kernel).
//   p = softmax(zt), q = softmax(zs), δ_v = zt_v − zs_v, c = lse(zt) − lse(zs)
//   out[r,0] = KL(p‖q) = Σ_v p_v (log p_v − log q_v) = E_p[δ] − c
//   out[r,1] = KL(q‖p) = Σ_v q_v (log q_v − log p_v) = c − E_q[δ]
//   out[r,2] = −log p[target] = lse(zt) − zt[target]   (0 when target < 0)
//   out[r,3] = −log q[target] = lse(zs) − zs[target]   (0 when target < 0)
//   out[r,4] = Σ_v δ_v²,  out[r,5] = Σ_v zt_v²
//   out[r,6] = 1 if argmax zt == argmax zs (first index of the maximum) else 0
//   out[r,7] = out[r,3] − out[r,2] = δ_target − c   (the per-token ΔCE; 0 when target < 0)
// teacher, student F32 [n, V] (strided rows), targets I32 [n], out F32 [n, 8].
//
// Precision: KL is second order in δ (≈ ½ Var_p δ, down to 1e-10 for an INT8 probe)
// while E_p[δ] and c are first order, so the two are subtracted with heavy cancellation.
// Every element is therefore widened to fp64 (δ of two fp32 values is then exact), the
// exponentials are fp64 (≤ 1 ulp) and all sums are fp64: c and E_p[δ] come out with
// absolute errors ~1e-15, which keeps KL ≥ 1e-10 to better than 1e-5 relative. Results
// are rounded to fp32 only when stored. ΔCE gets its own column because it is first order
// in δ (1e-6 for an INT8 probe) while the CE columns are ~5: the difference of two stored
// fp32 CEs would carry their rounding (ulp 4.8e-7) into it.
#pragma once

#include <cmath>
#include <cstdint>

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

void kl_reduce_ref(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                   const Tensor& out);
void kl_reduce_avx2(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                    const Tensor& out);
void kl_reduce(CpuTier tier, const Tensor& teacher, const Tensor& student, const Tensor& targets,
               const Tensor& out);

// Online log-sum-exp state of one distribution: max m, S = Σ e^{z−m}, A = Σ e^{z−m} δ,
// the first index of the maximum. Shared by both tiers (the AVX2 tier merges its lanes
// into one and finishes the tail with add()).
struct KlAccum {
  double m = -INFINITY, S = 0, A = 0;
  int64_t arg = -1;
  // Defined out of line (kl_reduce.cpp): an inline body compiled into the AVX2 file could
  // be the copy the linker keeps for everyone.
  void add(double z, double d, int64_t v);
  double lse() const;
};

// Writes one row of out from the accumulators (teacher t, student s).
void kl_finish_row(const KlAccum& t, const KlAccum& s, double sq, double tt, const float* zt,
                   const float* zs, int32_t target, float* out);

}  // namespace kllens::cpu
