#version 450
// matmul, tiled GEMM form: out[r, j] = Σ_k x[r, k] · W[j, k] (+ bias[j]).
// A workgroup of G×G threads computes a BM×BN = 64×64 tile of out, T×T = (64/G)² outputs
// per thread, stepping over k in BK = 16 slices staged in shared memory. fp32 accumulation
// in order of k; weights are converted exactly to fp32 while staged.
// G is a specialization constant picked per device (VulkanBackend::gemm_threads): 16
// (4×4 per thread) on GPUs, 8 (8×8 per thread) on CPU devices, where every shared-memory
// read is a per-lane gather and more outputs per read is what pays.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "matmul.h"

layout(local_size_x_id = 0, local_size_y_id = 1) in;  // both G
layout(push_constant) uniform Push { MatmulPush p; };
layout(std430, binding = MATMUL_BINDING_X) readonly buffer X { float x[]; };
#define W_BINDING MATMUL_BINDING_WEIGHT
#define S_BINDING MATMUL_BINDING_SCALE
#include "weight.glsl"
layout(std430, binding = MATMUL_BINDING_BIAS) readonly buffer Bias { float bias[]; };
layout(std430, binding = MATMUL_BINDING_OUT) writeonly buffer Out { float o[]; };

const uint BM = 64, BN = 64, BK = 16, TMAX = 8;
const uint G = gl_WorkGroupSize.x, T = BM / G, NT = G * G;  // T ≤ TMAX (G ≥ 8)
shared float xs[BK][BM];  // [k][row of x]
shared float ws[BK][BN];  // [k][row of W]

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, tid = ty * G + tx;
  const uint j0 = gl_WorkGroupID.x * BN, r0 = gl_WorkGroupID.y * BM;
  float acc[TMAX][TMAX];
  for (uint a = 0; a < T; ++a)
    for (uint b = 0; b < T; ++b) acc[a][b] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    for (uint e = tid; e < BK * BM; e += NT) {  // consecutive threads: consecutive k
      const uint row = e / BK, kk = e % BK, k = k0 + kk;
      const uint r = r0 + row, j = j0 + row;
      xs[kk][row] = (r < p.n && k < p.K) ? x[p.x_off + r * p.x_stride + k] : 0.0;
      ws[kk][row] = (j < p.N && k < p.K) ? weight_at(p.w_off + j * p.w_stride, k, j) : 0.0;
    }
    barrier();
    for (uint kk = 0; kk < BK; ++kk) {
      float xv[TMAX], wv[TMAX];
      for (uint a = 0; a < T; ++a) xv[a] = xs[kk][ty * T + a];
      for (uint b = 0; b < T; ++b) wv[b] = ws[kk][tx * T + b];
      for (uint a = 0; a < T; ++a)
        for (uint b = 0; b < T; ++b) acc[a][b] += xv[a] * wv[b];
    }
    barrier();
  }

  for (uint a = 0; a < T; ++a) {
    const uint r = r0 + ty * T + a;
    if (r >= p.n) continue;
    for (uint b = 0; b < T; ++b) {
      const uint j = j0 + tx * T + b;
      if (j >= p.N) continue;
      float v = acc[a][b];
      if (p.has_bias != 0) v += bias[p.b_off + j];
      o[p.out_off + r * p.out_stride + j] = v;
    }
  }
}
