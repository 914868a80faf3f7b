// embed: gather rows of an embedding table by token id.
//   out[r, :] = table[ids[r], :]       table [V, H] F32/F16/BF16, ids I32 [n], out F32 [n, H]
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

// Throws kllens::Error if an id is outside [0, V).
void embed_ref(const Tensor& table, const Tensor& ids, const Tensor& out);
void embed_avx2(const Tensor& table, const Tensor& ids, const Tensor& out);
void embed(CpuTier tier, const Tensor& table, const Tensor& ids, const Tensor& out);

}  // namespace kllens::cpu
