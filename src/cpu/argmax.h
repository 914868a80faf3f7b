// argmax: out[r] = the first index of the maximum of logits[r, :] (greedy decoding, the
// lens's top-1 agreement). NaN entries are never chosen; a row with nothing above −∞ gives 0.
// logits F32 [n, V] (strided rows), out I32 [n].
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

// The reference rule for one row z[V] (a strict-greater scan from −∞); also the host's
// greedy choice (kllens::argmax, sampling.h).
int64_t argmax_row_ref(const float* z, int64_t V);

void argmax_ref(const Tensor& logits, const Tensor& out);
void argmax_avx2(const Tensor& logits, const Tensor& out);
void argmax(CpuTier tier, const Tensor& logits, const Tensor& out);

}  // namespace kllens::cpu
