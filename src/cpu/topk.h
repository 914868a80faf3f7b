// topk: the k largest entries of each row of logits, best first (top-k sampling).
//   indices[r, :] = the first k column indices of row r in the order
//                   "larger value first; equal values by the lower index; NaN below every
//                   number (NaNs among themselves by index)",
//   values[r, j]  = logits[r, indices[r, j]].
// With k = 1 this is argmax's rule (first index of the maximum) except in argmax's corner
// case of a row holding nothing above −∞ and a NaN before the first −∞.
// logits F32 [n, V] (strided rows), values F32 [n, k], indices I32 [n, k] (contiguous),
// 1 ≤ k ≤ V.
#pragma once

#include <cmath>
#include <cstdint>

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

// True when (a, ia) comes before (b, ib) in the order above. Internal linkage: an inline
// function compiled into topk_avx2.cpp must not become the copy every file links to.
namespace {
inline bool topk_before(float a, int64_t ia, float b, int64_t ib) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return na == nb ? ia < ib : nb;
  return a > b || (a == b && ia < ib);
}
}  // namespace

void topk_ref(const Tensor& logits, const Tensor& values, const Tensor& indices);
void topk_avx2(const Tensor& logits, const Tensor& values, const Tensor& indices);
void topk(CpuTier tier, const Tensor& logits, const Tensor& values, const Tensor& indices);

// One row of host memory through the same tiers: z [V] → values [k], indices [k].
void topk_row(CpuTier tier, const float* z, int64_t V, int64_t k, float* values, int32_t* indices);

}  // namespace kllens::cpu
