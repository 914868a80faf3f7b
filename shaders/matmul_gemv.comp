#version 450
// matmul, GEMV form (few rows of x): out[r, j] = Σ_k x[r, k] · W[j, k] (+ bias[j]).
// Workgroup (j0 .. j0+ROWS, r): each thread sums a strided subset of k for ROWS weight rows
// in fp32, then the workgroup reduces per row. Weights converted exactly to fp32.
//
// Two ways through k (specialization constant BLOCKED, picked by the launcher):
//   1  by 32-blocks (weight_block.glsl): thread t takes units t, t+WG, ... of SPLIT units
//      per block; it loads the unit's x once into registers and reuses it for the ROWS
//      rows, reads each row's unit as whole words and its block scale once. The K % 32
//      tail goes element by element.
//   0  element by element for any alignment (weight_at), the fallback.
// Q8_C / Q4_C sum bare codes times x and apply the row scale once at the end.
//
// The reduction, by variant: a shared-memory tree (plain), or with -DSUBGROUP_REDUCE=1
// (devices with subgroup arithmetic) one subgroupAdd per row and a sum of the per-subgroup
// partials in subgroup order: one barrier instead of log2(WG). Both are fp32 and
// deterministic; they differ only in summation order.
#extension GL_GOOGLE_include_directive : require
#ifndef SUBGROUP_REDUCE
#define SUBGROUP_REDUCE 0
#endif
#if SUBGROUP_REDUCE
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.h"
#include "matmul.h"

layout(local_size_x_id = 0) in;           // power of two
layout(constant_id = 1) const uint ROWS = 2;
layout(constant_id = 2) const uint SPLIT = 1;    // threads per 32-block: 1, 2 or 4
layout(constant_id = 3) const uint BLOCKED = 1;  // 1: by 32-blocks, 0: element by element
layout(push_constant) uniform Push { MatmulPush p; };
layout(std430, binding = MATMUL_BINDING_X) readonly buffer X { float x[]; };
#define W_BINDING MATMUL_BINDING_WEIGHT
#define S_BINDING MATMUL_BINDING_SCALE
#include "weight.glsl"
#include "weight_block.glsl"
layout(std430, binding = MATMUL_BINDING_BIAS) readonly buffer Bias { float bias[]; };
layout(std430, binding = MATMUL_BINDING_OUT) writeonly buffer Out { float o[]; };

shared float red[ROWS * gl_WorkGroupSize.x];

void main() {
  const uint WG = gl_WorkGroupSize.x, tid = gl_LocalInvocationID.x;
  const uint j0 = gl_WorkGroupID.x * ROWS, r = gl_WorkGroupID.y;
  const uint xr = p.x_off + r * p.x_stride;
  float acc[ROWS];
  for (uint i = 0; i < ROWS; ++i) acc[i] = 0.0;
  uint k_tail = 0;  // first k left to the element-by-element loop
  if (BLOCKED != 0) {
    const uint blocks = p.K / 32u;
    for (uint u = tid; u < blocks * SPLIT; u += WG) {
      const uint blk = u / SPLIT, part = u % SPLIT;
      float xv[32];
      for (uint e = 0; e < E; ++e) xv[e] = x[xr + blk * 32u + unit_x(part, e)];
      for (uint i = 0; i < ROWS; ++i) {
        const uint j = min(j0 + i, p.N - 1);  // rows past N are computed and dropped
        acc[i] += unit_dot(p.w_off + j * p.w_stride, blk, part, xv);
      }
    }
    k_tail = blocks * 32u;
  }
  for (uint k = k_tail + tid; k < p.K; k += WG) {
    const float xv = x[xr + k];
    for (uint i = 0; i < ROWS; ++i) {
      const uint j = min(j0 + i, p.N - 1);
      acc[i] += xv * weight_code_at(p.w_off + j * p.w_stride, k, j);
    }
  }
#if SUBGROUP_REDUCE
  for (uint i = 0; i < ROWS; ++i) {
    const float s = subgroupAdd(acc[i]);
    if (subgroupElect()) red[i * WG + gl_SubgroupID] = s;
  }
  barrier();
  for (uint i = tid; i < ROWS && j0 + i < p.N; i += WG) {  // WG may be below ROWS
    float v = 0.0;
    for (uint g = 0; g < gl_NumSubgroups; ++g) v += red[i * WG + g];
#else
  for (uint i = 0; i < ROWS; ++i) red[i * WG + tid] = acc[i];
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s)
      for (uint i = 0; i < ROWS; ++i) red[i * WG + tid] += red[i * WG + tid + s];
    barrier();
  }
  for (uint i = tid; i < ROWS && j0 + i < p.N; i += WG) {
    float v = red[i * WG];
#endif
#if WTYPE == KL_WTYPE_Q8_C || WTYPE == KL_WTYPE_Q4_C
    v *= wscale[p.s_off + j0 + i];
#endif
    if (p.has_bias != 0) v += bias[p.b_off + j0 + i];
    o[p.out_off + r * p.out_stride + j0 + i] = v;
  }
}
