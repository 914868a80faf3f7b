// embed: gather rows of an embedding table by token id.
//   out[r, :] = value of table row ids[r]
// table [V, H] in any weight type (F32/F16/BF16, Q8_C/Q4_C with per-row scales, Q8_0/Q4_0):
// a tied embedding shares the head's (possibly quantised) weight, and its rows are
// dequantised here. ids I32 [n], out F32 [n, H].
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

// Throws kllens::Error if an id is outside [0, V).
void embed_ref(const Weight& table, const Tensor& ids, const Tensor& out);
void embed_avx2(const Weight& table, const Tensor& ids, const Tensor& out);
void embed(CpuTier tier, const Weight& table, const Tensor& ids, const Tensor& out);

}  // namespace kllens::cpu
