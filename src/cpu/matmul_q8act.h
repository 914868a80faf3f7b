// matmul_q8act: the `fast` matmul (MatmulMode::fast) on quantised weights. Activations are
// quantised on the fly to int8 per block of 32 along K and dotted with the integer weights
// in int32; only the per-block scales are applied in fp32. This header is the definition
// of the arithmetic; the scalar tier (matmul_q8act.cpp) implements it literally and every
// fast tier (AVX2 here, the Vulkan shaders) is tested against that tier.
//
// Dimensions: n activation rows, K inputs, N outputs; nb = ⌈K/32⌉ blocks per row; block b
// holds k ∈ [32b, min(32b + 32, K)) (a row whose K is not a multiple of 32 ends in a
// shorter block, e.g. K = 48: blocks of 32 and 16).
//
// 1. Activation quantiser (quantize_act_q8), per row x[K] and block b, all fp32:
//      amax_b = max_k |x_k|            (over the block's elements)
//      d_b    = amax_b / 127
//      id_b   = d_b != 0 ? 1 / d_b : 0
//      q_k    = clamp(round_half_even(x_k · id_b), -127, 127)     int8
//      s_b    = Σ_k q_k                                           int32, the block sum
//    stored as q[nb·32] (slots past K are 0), d[nb], s[nb]. Activations must be finite.
// 2. Per block of weight row j the integer weights w_k and (32-block types) scale e_b:
//      Q8_C  w_k = int8 element k                 (per-row scale c_j = Weight::scale[j])
//      Q4_C  w_k = signed nibble k, in [-8, 7]    (per-row scale c_j)
//      Q8_0  w_k = qs[k mod 32] of block b,       e_b = f16 d of block b
//      Q4_0  w_k = nibble(k mod 32) − 8,          e_b = f16 d of block b
//    and the exact integer block product  I_b = Σ_{k in block b} q_k · w_k  (int32;
//    |I_b| ≤ 32·127·128 < 2^24, so float(I_b) is exact).
// 3. Output, fp32, blocks in ascending order b = 0 .. nb−1, each product rounded to fp32:
//      Q8_C / Q4_C:  acc = 0;  acc += d_b · float(I_b);          out = c_j · acc (+ bias_j)
//      Q8_0 / Q4_0:  acc = 0;  acc += (d_b · e_b) · float(I_b);  out = acc       (+ bias_j)
// GEMV (n = 1) and GEMM (n > 1) compute exactly this per (row, output). A fast tier may
// split the integer sums in any way (they are exact) and may sum the per-block fp32 terms
// in another order (e.g. 8 lanes, then a horizontal sum), which changes each output by a
// few fp32 ulps of Σ_b |term_b|: NMSE ≤ 1e-12 against this reference is the bound.
// The block sum s_b lets a tier multiply unsigned nibbles u = w + 8 (Q4_C, Q4_0):
//   I_b = Σ q_k · u_k − 8 · s_b.
#pragma once

#include <cstdint>

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

inline constexpr int64_t kActBlock = 32;  // activation block along K
inline int64_t act_blocks(int64_t K) { return (K + kActBlock - 1) / kActBlock; }

// The weight types matmul_q8act handles (the others run the exact matmul in fast mode).
bool matmul_q8act_supports(DType t);

// Step 1 for one row: x[K] → q[act_blocks(K)·32], d[act_blocks(K)], s[act_blocks(K)].
void quantize_act_q8_ref(const float* x, int64_t K, int8_t* q, float* d, int32_t* s);
void quantize_act_q8_avx2(const float* x, int64_t K, int8_t* q, float* d, int32_t* s);

// Step 2 for block b of a stored row: w[0..32) = its integer weights (slots past K: 0);
// returns e_b (1 for the per-row types, whose scale is applied once per row).
float q8act_weight_block(DType t, const uint8_t* row, int64_t K, int64_t b, int32_t* w);

// out[n, N] = fast x[n, K] · Wᵀ (+ bias), as above. Same arguments as matmul (matmul.h);
// w.w.dtype must satisfy matmul_q8act_supports.
void matmul_q8act_ref(const Tensor& x, const Weight& w, const Tensor& out);
void matmul_q8act_avx2(const Tensor& x, const Weight& w, const Tensor& out);
void matmul_q8act(CpuTier tier, const Tensor& x, const Weight& w, const Tensor& out);

}  // namespace kllens::cpu
