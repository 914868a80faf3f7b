#version 450
// matmul_q8act: the fast matmul (MatmulMode::fast) on Q8_C / Q4_C / Q8_0 / Q4_0 weights,
// exactly the arithmetic of src/cpu/matmul_q8act.h, in two kernels:
//   QA_KERNEL 0  quantize: one thread per (x row, 32-block): amax, d = amax / 127 and
//                id = 1 / d correctly rounded (div_rn: GLSL division is 2.5 ulp),
//                q = clamp(roundEven(x · id), −127, 127) packed 4 per word (slots past K
//                are 0), s = Σ q.
//   QA_KERNEL 1  products: workgroup (ROWS output rows, x row r); thread t takes blocks
//                t, t+WG, ...: the block's int32 product I_b of q with the integer weights
//                (exact), then acc += d_b · float(I_b) (Q8_C/Q4_C; out = c_j · acc) or
//                acc += (d_b · e_b) · float(I_b) (Q8_0/Q4_0); the per-thread sums are
//                added in a shared-memory tree (the fp32 order differs from the
//                reference's ascending one: NMSE ≤ 1e-12 is the stated bound).
//                INT4 codes enter the products unsigned (u = nibble, or nibble ^ 8 for
//                Q4_C's signed nibbles) and the block sum corrects: I_b = Σ q·u − 8·s_b.
//   DOT=1        4×8-bit packed dot products where the device has them, DOT=0 plain
//                integer multiply-adds (shaders/q8act_dot.glsl).
// For n > 4 x rows the launcher runs matmul_q8act_gemm.comp (int8 tiles in shared memory)
// instead of QA_KERNEL 1; both read the q, d, s the quantize kernel wrote.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "matmul_q8act.h"

layout(local_size_x_id = 0) in;  // power of two

#if QA_KERNEL == 0  // ---- quantize -------------------------------------------------------
#include "div_rn.glsl"
layout(push_constant) uniform Push { QuantizeActPush p; };
layout(std430, binding = QUANTIZE_ACT_BINDING_X) readonly buffer X { float x[]; };
layout(std430, binding = QUANTIZE_ACT_BINDING_Q) writeonly buffer Q { uint q[]; };
layout(std430, binding = QUANTIZE_ACT_BINDING_D) writeonly buffer D { float d[]; };
layout(std430, binding = QUANTIZE_ACT_BINDING_S) writeonly buffer S { int s[]; };

void main() {
  const uint b = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
  if (b >= p.nb) return;
  const uint k0 = b * 32u, len = min(32u, p.K - k0), xr = p.x_off + r * p.x_stride + k0;
  float amax = 0.0;
  for (uint e = 0; e < len; ++e) amax = max(amax, abs(x[xr + e]));
  const float db = div_rn(amax, 127.0);
  const float id = db != 0.0 ? div_rn(1.0, db) : 0.0;
  int sum = 0;
  for (uint i = 0; i < 8u; ++i) {
    uint word = 0u;
    for (uint c = 0; c < 4u; ++c) {
      const uint e = 4u * i + c;
      precise float t = 0.0;
      if (e < len) t = x[xr + e] * id;
      const int qe = int(clamp(roundEven(t), -127.0, 127.0));
      sum += qe;
      word |= (uint(qe) & 0xffu) << (8u * c);
    }
    q[(r * p.nb + b) * 8u + i] = word;
  }
  d[r * p.nb + b] = db;
  s[r * p.nb + b] = sum;
}

#else  // ---- products ------------------------------------------------------------------
#include "q8act_dot.glsl"

layout(constant_id = 1) const uint ROWS = 4;
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

shared float red[ROWS * gl_WorkGroupSize.x];

// Code word i of the Q8_0 / Q4_0 block at byte b (even; codes start at b + 2).
uint code_word(uint b, uint i) {
  const uint a = b + 2u + 4u * i;  // a ≡ 2 (mod 4): the halves of two words, both in the block
  return (a & 2u) == 0u ? ww[a >> 2] : (ww[a >> 2] >> 16) | (ww[(a >> 2) + 1u] << 16);
}
// Nibbles 0..3 (lo = true) or 4..7 of v, one per byte.
uint spread_nibbles(uint v) {
  return (v & 0xfu) | ((v & 0xf0u) << 4) | ((v & 0xf00u) << 8) | ((v & 0xf000u) << 12);
}

// The block's term for weight row starting at byte `row`, x row r, block b.
float block_term(uint row, uint r, uint b) {
  const uint qb = (r * p.nb + b) * 8u, len = min(32u, p.K - b * 32u);
  int I = 0;
#if WTYPE == KL_WTYPE_Q8_C
  const uint base = (row >> 2) + b * 8u;
  for (uint i = 0; i < (len + 3u) / 4u; ++i) I += dot_ss(q[qb + i], ww[base + i]);
  return d[r * p.nb + b] * float(I);
#elif WTYPE == KL_WTYPE_Q4_C
  const uint base = (row >> 2) + b * 4u;
  for (uint i = 0; i < (len + 7u) / 8u; ++i) {
    const uint v = ww[base + i] ^ 0x88888888u;  // signed nibble n ↦ n + 8 ∈ [0, 15]
    I += dot_su(q[qb + 2u * i], spread_nibbles(v)) + dot_su(q[qb + 2u * i + 1u], spread_nibbles(v >> 16));
  }
  I -= 8 * s[r * p.nb + b];
  return d[r * p.nb + b] * float(I);
#elif WTYPE == KL_WTYPE_Q8_0
  const uint blk = row + b * 34u;
  for (uint i = 0; i < 8u; ++i) I += dot_ss(q[qb + i], code_word(blk, i));
  const uint h = ww[blk >> 2];
  precise float de = d[r * p.nb + b] * unpackHalf2x16((blk & 2u) == 0u ? h : h >> 16).x;
  return de * float(I);
#else  // Q4_0: byte m holds element m (low nibble) and 16 + m (high)
  const uint blk = row + b * 18u;
  for (uint i = 0; i < 4u; ++i) {
    const uint v = code_word(blk, i);
    I += dot_su(q[qb + i], v & 0x0f0f0f0fu) + dot_su(q[qb + 4u + i], (v >> 4) & 0x0f0f0f0fu);
  }
  I -= 8 * s[r * p.nb + b];
  const uint h = ww[blk >> 2];
  precise float de = d[r * p.nb + b] * unpackHalf2x16((blk & 2u) == 0u ? h : h >> 16).x;
  return de * float(I);
#endif
}

void main() {
  const uint WG = gl_WorkGroupSize.x, tid = gl_LocalInvocationID.x;
  const uint j0 = gl_WorkGroupID.x * ROWS, r = gl_WorkGroupID.y;
  float acc[ROWS];
  for (uint i = 0; i < ROWS; ++i) acc[i] = 0.0;
  for (uint b = tid; b < p.nb; b += WG)
    for (uint i = 0; i < ROWS; ++i) {
      const uint j = min(j0 + i, p.N - 1);  // rows past N are computed and dropped
      precise float t = block_term(p.w_off + j * p.w_stride, r, b);
      acc[i] += t;
    }
  for (uint i = 0; i < ROWS; ++i) red[i * WG + tid] = acc[i];
  barrier();
  for (uint h = WG / 2; h > 0; h >>= 1) {
    if (tid < h)
      for (uint i = 0; i < ROWS; ++i) red[i * WG + tid] += red[i * WG + tid + h];
    barrier();
  }
  for (uint i = tid; i < ROWS && j0 + i < p.N; i += WG) {
    float v = red[i * WG];
#if WTYPE == KL_WTYPE_Q8_C || WTYPE == KL_WTYPE_Q4_C
    v *= wscale[p.s_off + j0 + i];
#endif
    if (p.has_bias != 0) v += bias[p.b_off + j0 + i];
    o[p.out_off + r * p.out_stride + j0 + i] = v;
  }
}
#endif
