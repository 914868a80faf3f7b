// matmul_q8act push constants, shared by shaders/matmul_q8act.comp and
// src/vulkan/matmul_q8act.cpp. The fast matmul (src/cpu/matmul_q8act.h states the
// arithmetic): x quantised to int8 per 32-block, then integer block products.
#ifndef KLLENS_SHADERS_MATMUL_Q8ACT_H
#define KLLENS_SHADERS_MATMUL_Q8ACT_H
#include "common.h"
// Bindings of the quantize kernel (QA_KERNEL 0).
#define QUANTIZE_ACT_BINDING_X 0
#define QUANTIZE_ACT_BINDING_Q 1
#define QUANTIZE_ACT_BINDING_D 2
#define QUANTIZE_ACT_BINDING_S 3
// Bindings of the fused GEMV (QA_KERNEL 1): x itself, quantised block by block in the kernel.
#define MATMUL_Q8ACT_GEMV_BINDING_X 0
#define MATMUL_Q8ACT_GEMV_BINDING_WEIGHT 1
#define MATMUL_Q8ACT_GEMV_BINDING_SCALE 2
#define MATMUL_Q8ACT_GEMV_BINDING_BIAS 3
#define MATMUL_Q8ACT_GEMV_BINDING_OUT 4
// Bindings of the GEMM (matmul_q8act_gemm.comp): q, d, s from the quantize kernel.
#define MATMUL_Q8ACT_BINDING_Q 0
#define MATMUL_Q8ACT_BINDING_D 1
#define MATMUL_Q8ACT_BINDING_S 2
#define MATMUL_Q8ACT_BINDING_WEIGHT 3
#define MATMUL_Q8ACT_BINDING_SCALE 4
#define MATMUL_Q8ACT_BINDING_BIAS 5
#define MATMUL_Q8ACT_BINDING_OUT 6
KL_BEGIN_PUSH
// QA_KERNEL 0: x [n, K] F32 (binding 0) → q [n, nb·8] int8×4 words (1), d [n, nb] F32 (2),
// s [n, nb] I32 (3), each row of q/d/s packed (q_stride = nb·8, d/s stride = nb).
struct QuantizeActPush {
  uint n;
  uint K;
  uint nb;         // ⌈K/32⌉
  uint x_off;
  uint x_stride;
};
// QA_KERNEL 1 (GEMV): out[r, j] from x row r (binding 0, F32, quantised in the kernel) and
// weight row j (binding 1, bytes; per-row scales binding 2 for Q8_C/Q4_C), bias (3), out (4).
struct MatmulQ8actGemvPush {
  uint n;
  uint K;
  uint N;
  uint nb;         // ⌈K/32⌉
  uint x_off;
  uint x_stride;
  uint w_off;      // bytes
  uint w_stride;   // bytes
  uint s_off;      // per-row scales [N]
  uint b_off;
  uint has_bias;
  uint out_off;
  uint out_stride;
};
// The GEMM: out[r, j] from q, d, s of x row r (bindings 0-2) and weight row j (W binding 3,
// bytes; per-row scales binding 4 for Q8_C/Q4_C), bias (5), out (6).
struct MatmulQ8actPush {
  uint n;
  uint K;
  uint N;
  uint nb;
  uint w_off;      // bytes
  uint w_stride;   // bytes
  uint s_off;      // per-row scales [N]
  uint b_off;
  uint has_bias;
  uint out_off;
  uint out_stride;
};
KL_END_PUSH(QuantizeActPush, 5)
KL_BEGIN_PUSH
KL_END_PUSH(MatmulQ8actGemvPush, 13)
KL_BEGIN_PUSH
KL_END_PUSH(MatmulQ8actPush, 11)
#endif
