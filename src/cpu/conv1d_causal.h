// conv1d_causal: Mamba's causal depthwise conv1d over time with carried state.
//   out[b,t,c] = act( Σ_{k<K} w[c,k] · xin[b, t+k, c] + bias[c] ),  act = silu or identity
//   xin[b] = [state[b] (K−1 previous inputs) | x[b]]; afterwards state[b] = last K−1 of xin[b]
// x F32 [B·T, C] (strided rows), w F32 [C, K], bias F32 [C] or empty,
// state F32 [B, K−1, C] (rows may be strided), out F32 [B·T, C] (strided rows).
#pragma once

#include "kllens/backend.h"

namespace kllens::cpu {

void conv1d_causal_ref(const Conv1dArgs& a);
void conv1d_causal_avx2(const Conv1dArgs& a);
void conv1d_causal(CpuTier tier, const Conv1dArgs& a);

}  // namespace kllens::cpu
