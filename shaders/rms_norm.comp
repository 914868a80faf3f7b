#version 450
// rms_norm:      out[r,k] = w[k] · (x[r,k] · 1/sqrt(Σ_k x[r,k]² / H + eps))
// add_rms_norm:  x[r,:] += delta[r,:] first (x is the residual, written back), then as above.
// One workgroup per row. Sum of squares in fp32: per-thread strided partial sums, then a
// tree reduction in shared memory. 1/sqrt (not inversesqrt) as the CPU reference does.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "rms_norm.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool ADD = false;
layout(push_constant) uniform Push { RmsNormPush p; };
layout(std430, binding = RMS_NORM_BINDING_X) buffer X { float x[]; };
layout(std430, binding = RMS_NORM_BINDING_DELTA) readonly buffer D { float d[]; };
layout(std430, binding = RMS_NORM_BINDING_W) readonly buffer W { float w[]; };
layout(std430, binding = RMS_NORM_BINDING_OUT) buffer Out { float o[]; };

shared float red[gl_WorkGroupSize.x];

void main() {
  const uint r = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  const uint xr = p.x_off + r * p.x_stride;
  float ss = 0.0;
  for (uint k = tid; k < p.H; k += WG) {
    float v = x[xr + k];
    if (ADD) {
      v += d[p.d_off + r * p.d_stride + k];
      x[xr + k] = v;
    }
    ss += v * v;
  }
  red[tid] = ss;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    barrier();
  }
  const float inv = 1.0 / sqrt(red[0] / float(p.H) + p.eps);
  // Each thread reads back only the x elements it wrote itself.
  for (uint k = tid; k < p.H; k += WG)
    o[p.out_off + r * p.out_stride + k] = w[p.w_off + k] * (x[xr + k] * inv);
}
