#version 450
// ssm_scan, Mamba-1 selective scan. Per sequence b and channel i, state h[N] in fp32
// registers, looping over time:
//   Δ = softplus(delta[t,i]) (threshold 20: Δ = delta above it) or delta as is
//   h[n] ← exp(Δ·A[i,n]) · h[n] + (Δ · B[t,n]) · u[t,i]
//   y = Σ_n h[n] · C[t,n] + D[i] · u[t,i];   out = y · silu(z[t,i]) if z is given
// One thread per (i, b); the state is read from and written back to `state` [B, I, N].
// Decode is T = 1.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "ssm_scan.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NS = 16;  // state size N of this pipeline
layout(push_constant) uniform Push { SsmScanPush p; };
layout(std430, binding = SSM_SCAN_BINDING_U) readonly buffer U { float u[]; };
layout(std430, binding = SSM_SCAN_BINDING_DELTA) readonly buffer Dl { float dl[]; };
layout(std430, binding = SSM_SCAN_BINDING_A) readonly buffer AmB { float Am[]; };
layout(std430, binding = SSM_SCAN_BINDING_B) readonly buffer BmB { float Bm[]; };
layout(std430, binding = SSM_SCAN_BINDING_C) readonly buffer CmB { float Cm[]; };
layout(std430, binding = SSM_SCAN_BINDING_D) readonly buffer DvB { float Dv[]; };
layout(std430, binding = SSM_SCAN_BINDING_Z) readonly buffer Z { float z[]; };
layout(std430, binding = SSM_SCAN_BINDING_STATE) buffer State { float st[]; };
layout(std430, binding = SSM_SCAN_BINDING_OUT) writeonly buffer Out { float o[]; };

// log(1 + e^v) without losing the small values: log1p(y) via log(u)·y/(u−1), u = 1+y.
float softplus(float v) {
  if (v > 20.0) return v;
  const float y = exp(v), u = 1.0 + y;
  return u == 1.0 ? y : log(u) * (y / (u - 1.0));
}

void main() {
  const uint i = gl_GlobalInvocationID.x, b = gl_GlobalInvocationID.y;
  if (i >= p.I || b >= p.B) return;
  float h[NS], a[NS];
  const uint srow = p.st_off + (b * p.I + i) * p.st_stride;
  for (uint n = 0; n < NS; ++n) {
    h[n] = st[srow + n];
    a[n] = Am[p.A_off + i * p.A_stride + n];
  }
  const float Di = p.has_D != 0 ? Dv[p.D_off + i] : 0.0;
  for (uint t = 0; t < p.T; ++t) {
    const uint row = b * p.T + t;
    const float ut = u[p.u_off + row * p.u_stride + i];
    float dt = dl[p.d_off + row * p.d_stride + i];
    if (p.softplus != 0) dt = softplus(dt);
    const uint br = p.B_off + row * p.B_stride, cr = p.C_off + row * p.C_stride;
    float y = 0.0;
    for (uint n = 0; n < NS; ++n) {
      h[n] = exp(dt * a[n]) * h[n] + (dt * Bm[br + n]) * ut;
      y += h[n] * Cm[cr + n];
    }
    y += Di * ut;
    if (p.has_z != 0) {
      const float zv = z[p.z_off + row * p.z_stride + i];
      y *= zv / (1.0 + exp(-zv));
    }
    o[p.out_off + row * p.out_stride + i] = y;
  }
  for (uint n = 0; n < NS; ++n) st[srow + n] = h[n];
}
