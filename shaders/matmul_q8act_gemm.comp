#version 450
// matmul_q8act, GEMM form (prefill, n > 4 x rows): the fast matmul of
// src/cpu/matmul_q8act.h over int8 tiles in shared memory. The activation panel was
// quantised once by matmul_q8act.comp's quantize kernel (q, d, s per x row and 32-block).
//
// A workgroup of G×G threads computes a BM×BN = G·T × G·T tile of out, T×T outputs per
// thread (x rows ty·T + a, weight rows tx·T + c). It steps over K in stages of BKB
// 32-blocks; per stage it stages in shared memory
//   sq  the BM x rows' int8 codes q (8 words of 4 per block), sd their d_b,
//   sw  the BN weight rows' integer weights, unpacked to signed int8 (8 words per block:
//       INT4 nibbles are sign-extended to bytes once here, not per product), se their e_b
//       (Q8_0 / Q4_0),
// and each thread forms the exact int32 block products I_b = Σ q·w of its T×T outputs
// (dot_ss: packed dot products or plain multiply-adds, shaders/q8act_dot.glsl), then
//   acc += d_b · float(I_b)            (Q8_C / Q4_C; out = c_j · acc (+ bias))
//   acc += (d_b · e_b) · float(I_b)    (Q8_0 / Q4_0; out = acc (+ bias))
// block by block in ascending b, each product rounded to fp32 (`precise`): the
// reference's int32 sums and fp32 order, so the outputs equal matmul_q8act_ref's.
// Specialization constants: 0 = 1 = G (threads per side), 2 = T (outputs per thread per
// side, ≤ TMAX), 3 = BKB (blocks per stage), picked by the launcher per device.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "matmul_q8act.h"
#include "q8act_dot.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in;  // both G
layout(constant_id = 2) const uint T = 8;
layout(constant_id = 3) const uint BKB = 2;
layout(push_constant) uniform Push { MatmulQ8actPush p; };
layout(std430, binding = MATMUL_Q8ACT_BINDING_Q) readonly buffer Q { uint q[]; };
layout(std430, binding = MATMUL_Q8ACT_BINDING_D) readonly buffer D { float d[]; };
layout(std430, binding = MATMUL_Q8ACT_BINDING_S) readonly buffer S { int s[]; };
layout(std430, binding = MATMUL_Q8ACT_BINDING_WEIGHT) readonly buffer W { uint ww[]; };
#if WTYPE == KL_WTYPE_Q8_C || WTYPE == KL_WTYPE_Q4_C
layout(std430, binding = MATMUL_Q8ACT_BINDING_SCALE) readonly buffer Scales { float wscale[]; };
#endif
layout(std430, binding = MATMUL_Q8ACT_BINDING_BIAS) readonly buffer Bias { float bias[]; };
layout(std430, binding = MATMUL_Q8ACT_BINDING_OUT) writeonly buffer Out { float o[]; };

const uint TMAX = 8;
const uint G = gl_WorkGroupSize.x, NT = G * G, BM = G * T, BN = G * T;
const uint SW = BKB * 8u;  // words per row and stage
shared uint sq[SW * BM];   // [block·8 + word][x row]
shared uint sw[SW * BN];   // [block·8 + word][weight row]
shared float sd[BKB * BM]; // [block][x row]
#if WTYPE == KL_WTYPE_Q8_0 || WTYPE == KL_WTYPE_Q4_0
shared float se[BKB * BN]; // [block][weight row]
#endif

// Four signed 4-bit lanes in the low nibbles of v's bytes, sign-extended to bytes.
uint sext_nibbles(uint v) { return v | ((v & 0x08080808u) * 0x1eu); }
// Nibbles 0..3 of v, one per byte.
uint spread_nibbles(uint v) {
  return (v & 0xfu) | ((v & 0xf0u) << 4) | ((v & 0xf00u) << 8) | ((v & 0xf000u) << 12);
}
// Code word i of the Q8_0 / Q4_0 block at byte b (even; codes start at b + 2).
uint code_word(uint b, uint i) {
  const uint a = b + 2u + 4u * i;  // a ≡ 2 (mod 4): the halves of two words, both in the block
  return (a & 2u) == 0u ? ww[a >> 2] : (ww[a >> 2] >> 16) | (ww[(a >> 2) + 1u] << 16);
}

// Word i (elements 4i..4i+3) of block b of the weight row at byte `row`, as four signed
// int8 lanes. Words wholly past K are 0 (their q is 0 too; this keeps loads in the row).
uint weight_word(uint row, uint b, uint i) {
  if (b * 32u + 4u * i >= p.K) return 0u;
#if WTYPE == KL_WTYPE_Q8_C
  return ww[(row >> 2) + b * 8u + i];
#elif WTYPE == KL_WTYPE_Q4_C
  const uint v = ww[(row >> 2) + b * 4u + i / 2u] >> (16u * (i & 1u));
  return sext_nibbles(spread_nibbles(v));
#elif WTYPE == KL_WTYPE_Q8_0
  return code_word(row + b * 34u, i);
#else  // Q4_0: byte m of qs holds element m (low nibble) and 16 + m (high); w = nibble − 8
  const uint v = code_word(row + b * 18u, i & 3u);
  const uint u = (i < 4u ? v : v >> 4) & 0x0f0f0f0fu;
  return sext_nibbles(u ^ 0x08080808u);  // u − 8 as a 4-bit two's complement, widened
#endif
}

#if WTYPE == KL_WTYPE_Q8_0 || WTYPE == KL_WTYPE_Q4_0
// The f16 scale of block b of the weight row at byte `row`.
float block_scale(uint row, uint b) {
  const uint blk = row + b * (WTYPE == KL_WTYPE_Q8_0 ? 34u : 18u), h = ww[blk >> 2];
  return unpackHalf2x16((blk & 2u) == 0u ? h : h >> 16).x;
}
#endif

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, tid = ty * G + tx;
  const uint j0 = gl_WorkGroupID.x * BN, r0 = gl_WorkGroupID.y * BM;
  float acc[TMAX][TMAX];
  for (uint a = 0; a < T; ++a)
    for (uint c = 0; c < T; ++c) acc[a][c] = 0.0;

  for (uint b0 = 0; b0 < p.nb; b0 += BKB) {
    // Stage: consecutive threads take consecutive words of one row.
    for (uint e = tid; e < SW * BM; e += NT) {
      const uint m = e / SW, w = e % SW, b = b0 + w / 8u, r = r0 + m;
      sq[w * BM + m] = (r < p.n && b < p.nb) ? q[(r * p.nb + b) * 8u + w % 8u] : 0u;
    }
    for (uint e = tid; e < SW * BN; e += NT) {
      const uint c = e / SW, w = e % SW, b = b0 + w / 8u, j = j0 + c;
      sw[w * BN + c] = (j < p.N && b < p.nb) ? weight_word(p.w_off + j * p.w_stride, b, w % 8u) : 0u;
    }
    for (uint e = tid; e < BKB * BM; e += NT) {
      const uint m = e % BM, b = b0 + e / BM, r = r0 + m;
      sd[e] = (r < p.n && b < p.nb) ? d[r * p.nb + b] : 0.0;
    }
#if WTYPE == KL_WTYPE_Q8_0 || WTYPE == KL_WTYPE_Q4_0
    for (uint e = tid; e < BKB * BN; e += NT) {
      const uint c = e % BN, b = b0 + e / BN, j = j0 + c;
      se[e] = (j < p.N && b < p.nb) ? block_scale(p.w_off + j * p.w_stride, b) : 0.0;
    }
#endif
    barrier();
    for (uint bb = 0; bb < BKB && b0 + bb < p.nb; ++bb) {
      int I[TMAX][TMAX];
      for (uint a = 0; a < T; ++a)
        for (uint c = 0; c < T; ++c) I[a][c] = 0;
      for (uint i = 0; i < 8u; ++i) {
        const uint w = bb * 8u + i;
        uint qv[TMAX], wv[TMAX];
        for (uint a = 0; a < T; ++a) qv[a] = sq[w * BM + ty * T + a];
        for (uint c = 0; c < T; ++c) wv[c] = sw[w * BN + tx * T + c];
        for (uint a = 0; a < T; ++a)
          for (uint c = 0; c < T; ++c) I[a][c] += dot_ss(qv[a], wv[c]);
      }
      for (uint a = 0; a < T; ++a) {
        const float db = sd[bb * BM + ty * T + a];
        for (uint c = 0; c < T; ++c) {
#if WTYPE == KL_WTYPE_Q8_C || WTYPE == KL_WTYPE_Q4_C
          precise float t = db * float(I[a][c]);
#else
          precise float de = db * se[bb * BN + tx * T + c];
          precise float t = de * float(I[a][c]);
#endif
          precise float sum = acc[a][c] + t;
          acc[a][c] = sum;
        }
      }
    }
    barrier();
  }

  for (uint a = 0; a < T; ++a) {
    const uint r = r0 + ty * T + a;
    if (r >= p.n) continue;
    for (uint c = 0; c < T; ++c) {
      const uint j = j0 + tx * T + c;
      if (j >= p.N) continue;
      precise float v = acc[a][c];
#if WTYPE == KL_WTYPE_Q8_C || WTYPE == KL_WTYPE_Q4_C
      v *= wscale[p.s_off + j];
#endif
      if (p.has_bias != 0) v += bias[p.b_off + j];
      o[p.out_off + r * p.out_stride + j] = v;
    }
  }
}
