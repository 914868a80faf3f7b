#version 450
// conv1d_causal, Mamba's causal depthwise conv with carried state. With
// xin[b] = [state[b] (K-1 rows) | x[b] (T rows)]:
//   mode 0: out[b,t,c] = act( bias[c] + Σ_{k<K} w[c,k] · xin[b, t+k, c] )   (one thread each)
//   mode 1: state[b,j,c] = xin[b, T+j, c] for j < K-1                       (one thread per b,c)
// Mode 1 runs after mode 0 (the launcher puts a barrier between them); ascending j reads
// xin at T+j > j, so the state is updated in place safely. act = SiLU or identity. fp32.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "conv1d_causal.h"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { Conv1dPush p; };
layout(std430, binding = CONV1D_CAUSAL_BINDING_X) readonly buffer X { float x[]; };
layout(std430, binding = CONV1D_CAUSAL_BINDING_WEIGHT) readonly buffer W { float w[]; };
layout(std430, binding = CONV1D_CAUSAL_BINDING_BIAS) readonly buffer Bias { float bias[]; };
layout(std430, binding = CONV1D_CAUSAL_BINDING_STATE) buffer State { float st[]; };
layout(std430, binding = CONV1D_CAUSAL_BINDING_OUT) writeonly buffer Out { float o[]; };

// xin[b, j, c]: j < K-1 from the state, else token j-(K-1) of sequence b.
float xin(uint b, uint j, uint c) {
  if (j < p.K - 1) return st[p.st_off + (b * (p.K - 1) + j) * p.st_stride + c];
  return x[p.x_off + (b * p.T + j - (p.K - 1)) * p.x_stride + c];
}

void main() {
  const uint c = gl_GlobalInvocationID.x;
  if (c >= p.C) return;
  if (p.mode == 0) {
    const uint row = p.r0 + gl_GlobalInvocationID.y;
    if (row >= p.B * p.T) return;
    const uint b = row / p.T, t = row % p.T;
    float acc = 0.0;
    for (uint k = 0; k < p.K; ++k) acc += w[p.w_off + c * p.w_stride + k] * xin(b, t + k, c);
    float v = (p.has_bias != 0 ? bias[p.b_off + c] : 0.0) + acc;
    if (p.silu != 0) v = v / (1.0 + exp(-v));
    o[p.out_off + row * p.out_stride + c] = v;
  } else {
    const uint b = gl_GlobalInvocationID.y;
    if (b >= p.B) return;
    for (uint j = 0; j + 1 < p.K; ++j)
      st[p.st_off + (b * (p.K - 1) + j) * p.st_stride + c] = xin(b, p.T + j, c);
  }
}
