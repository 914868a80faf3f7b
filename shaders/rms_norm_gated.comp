#version 450
// rms_norm_gated, Mamba-2's gated RMSNorm (norm_before_gate = False) per group g of
// `group_size` columns of row r:
//   v[k] = y[r,k] · silu(z[r,k]);   out[r,k] = w[k] · (v[k] · 1/sqrt(Σ_{k∈g} v[k]² / gs + eps))
// One workgroup per (group, row): grid x = groups, y = rows. Sum of squares in fp32:
// per-thread strided partial sums, then a tree reduction in shared memory. Each thread
// recomputes v for the columns it summed (no second read of anything it did not read).
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "rms_norm_gated.h"
#include "math.glsl"

layout(local_size_x_id = 0) in;  // power of two
layout(push_constant) uniform Push { RmsNormGatedPush p; };
layout(std430, binding = RMS_NORM_GATED_BINDING_Y) readonly buffer Y { float y[]; };
layout(std430, binding = RMS_NORM_GATED_BINDING_Z) readonly buffer Z { float z[]; };
layout(std430, binding = RMS_NORM_GATED_BINDING_W) readonly buffer W { float w[]; };
layout(std430, binding = RMS_NORM_GATED_BINDING_OUT) writeonly buffer Out { float o[]; };

shared float red[gl_WorkGroupSize.x];

void main() {
  const uint g = gl_WorkGroupID.x, r = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
  const uint WG = gl_WorkGroupSize.x, k0 = g * p.group_size;
  const uint yr = p.y_off + r * p.y_stride + k0, zr = p.z_off + r * p.z_stride + k0;
  float ss = 0.0;
  for (uint k = tid; k < p.group_size; k += WG) {
    const float v = y[yr + k] * silu(z[zr + k]);
    ss += v * v;
  }
  red[tid] = ss;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    barrier();
  }
  const float inv = 1.0 / sqrt(red[0] / float(p.group_size) + p.eps);
  const uint orow = p.out_off + r * p.out_stride + k0;
  for (uint k = tid; k < p.group_size; k += WG) {
    const float v = y[yr + k] * silu(z[zr + k]);
    o[orow + k] = w[p.w_off + k0 + k] * (v * inv);
  }
}
