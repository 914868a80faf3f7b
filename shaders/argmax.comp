#version 450
// argmax: out[r] = the first index of the maximum of logits[r, :] (strict-greater scan, as
// the CPU reference: NaN never wins, a row of −inf/NaN gives 0).
// One workgroup per row: each thread scans a strided subset keeping its first maximum,
// then a tree reduction in shared memory where the larger value wins and equal values
// keep the smaller index.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "argmax.h"
#include "math.glsl"

layout(local_size_x_id = 0) in;  // power of two
layout(push_constant) uniform Push { ArgmaxPush p; };
layout(std430, binding = ARGMAX_BINDING_LOGITS) readonly buffer X { float x[]; };
layout(std430, binding = ARGMAX_BINDING_OUT) writeonly buffer Out { int o[]; };

shared float sv[gl_WorkGroupSize.x];
shared uint si[gl_WorkGroupSize.x];

const uint kNone = 0xffffffffu;

void main() {
  const uint r = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  const uint xr = p.x_off + r * p.x_stride;
  float best = kNegInf;
  uint idx = kNone;
  for (uint k = tid; k < p.V; k += WG) {
    const float v = x[xr + k];
    if (v > best) { best = v; idx = k; }
  }
  sv[tid] = best;
  si[tid] = idx;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) {
      const float v = sv[tid + s];
      const uint i = si[tid + s];
      if (v > sv[tid] || (v == sv[tid] && i < si[tid])) { sv[tid] = v; si[tid] = i; }
    }
    barrier();
  }
  if (tid == 0) o[p.out_off + r] = si[0] == kNone ? 0 : int(si[0]);
}
