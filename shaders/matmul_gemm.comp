#version 450
// matmul, tiled GEMM form: out[r, j] = Σ_k x[r, k] · W[j, k] (+ bias[j]).
// A 16×16 workgroup computes a BM×BN = 32×32 tile of out (2×2 per thread), stepping over k
// in BK = 16 slices staged in shared memory. fp32 accumulation in order of k; weights are
// converted exactly to fp32 while staged.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "matmul.h"

layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push { MatmulPush p; };
layout(std430, binding = 0) readonly buffer X { float x[]; };
#define W_BINDING 1
#define S_BINDING 4
#include "weight.glsl"
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer Out { float o[]; };

const uint BM = 32, BN = 32, BK = 16, TM = 2, TN = 2, NT = 256;
shared float xs[BK][BM];  // [k][row of x]
shared float ws[BK][BN];  // [k][row of W]

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, tid = ty * 16 + tx;
  const uint j0 = gl_WorkGroupID.x * BN, r0 = gl_WorkGroupID.y * BM;
  float acc[TM][TN];
  for (uint a = 0; a < TM; ++a)
    for (uint b = 0; b < TN; ++b) acc[a][b] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    for (uint e = tid; e < BK * BM; e += NT) {  // consecutive threads: consecutive k
      const uint row = e / BK, kk = e % BK, k = k0 + kk;
      const uint r = r0 + row, j = j0 + row;
      xs[kk][row] = (r < p.n && k < p.K) ? x[p.x_off + r * p.x_stride + k] : 0.0;
      ws[kk][row] = (j < p.N && k < p.K) ? weight_at(p.w_off + j * p.w_stride, k, j) : 0.0;
    }
    barrier();
    for (uint kk = 0; kk < BK; ++kk) {
      float xv[TM], wv[TN];
      for (uint a = 0; a < TM; ++a) xv[a] = xs[kk][ty * TM + a];
      for (uint b = 0; b < TN; ++b) wv[b] = ws[kk][tx * TN + b];
      for (uint a = 0; a < TM; ++a)
        for (uint b = 0; b < TN; ++b) acc[a][b] += xv[a] * wv[b];
    }
    barrier();
  }

  for (uint a = 0; a < TM; ++a) {
    const uint r = r0 + ty * TM + a;
    if (r >= p.n) continue;
    for (uint b = 0; b < TN; ++b) {
      const uint j = j0 + tx * TN + b;
      if (j >= p.N) continue;
      float v = acc[a][b];
      if (p.has_bias != 0) v += bias[p.b_off + j];
      o[p.out_off + r * p.out_stride + j] = v;
    }
  }
}
