// matmul push constants, shared by shaders/matmul_gemv.comp, shaders/matmul_gemm.comp and
// src/vulkan/matmul.cpp.   out[r, j] = Σ_k x[r, k] · W[j, k] (+ bias[j])
#ifndef KLLENS_SHADERS_MATMUL_H
#define KLLENS_SHADERS_MATMUL_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define MATMUL_BINDING_X 0
#define MATMUL_BINDING_WEIGHT 1
#define MATMUL_BINDING_BIAS 2
#define MATMUL_BINDING_OUT 3
#define MATMUL_BINDING_SCALE 4
KL_BEGIN_PUSH
struct MatmulPush {
  uint n;          // rows of x and out
  uint K;          // inner dimension
  uint N;          // output features in this dispatch (weights beyond
                   //   maxStorageBufferRange are bound in row chunks)
  uint x_off;      // x [n, K], binding 0
  uint x_stride;
  uint w_off;      // W [N, K] (WTYPE), binding 1: elements for plain types, bytes for
  uint w_stride;   //   quantised ones (stride = stored row bytes)
  uint s_off;      // per-row scales [N] (Q8_C, Q4_C), binding 4
  uint b_off;      // bias [N], binding 2 (F32)
  uint has_bias;
  uint out_off;    // out [n, N], binding 3
  uint out_stride;
};
KL_END_PUSH(MatmulPush, 12)
#endif
