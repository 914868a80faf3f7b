#version 450
// matmul_q8act: the fast matmul (MatmulMode::fast) on Q8_C / Q4_C / Q8_0 / Q4_0 weights,
// exactly the arithmetic of src/cpu/matmul_q8act.h, in two kernels:
//   QA_KERNEL 0  quantize (for the GEMM, matmul_q8act_gemm.comp): one thread per (x row,
//                32-block) writes the block's q (packed 4 per word), d and s.
//   QA_KERNEL 1  GEMV (n ≤ 4 x rows), one dispatch: workgroup (ROWS output rows, x row r);
//                thread t takes blocks t, t+WG, ...: it quantises the x block itself
//                (quantize_block, the same code as QA_KERNEL 0, so the same q, d, s), keeps
//                q in registers for the workgroup's ROWS weight rows, and per row reads the
//                block's weight words once (Q8_0 / Q4_0: the M + 1 words that hold the
//                block's f16 scale and codes, each loaded once) and forms the block's int32
//                product I_b (exact), then acc += d_b · float(I_b) (Q8_C/Q4_C; out = c_j ·
//                acc) or acc += (d_b · e_b) · float(I_b) (Q8_0/Q4_0); the per-thread sums
//                are added in a shared-memory tree (the fp32 order differs from the
//                reference's ascending one: NMSE ≤ 1e-12 is the stated bound). Each
//                workgroup quantises the x blocks it uses: K values per ROWS·K weights,
//                instead of a second dispatch and a round trip of q, d, s through memory.
//                INT4 codes enter the products unsigned (u = nibble, or nibble ^ 8 for
//                Q4_C's signed nibbles) and the block sum corrects: I_b = Σ q·u − 8·s_b.
// quantize_block: d = amax/127 and id = 1/d correctly rounded (div_rn: GLSL division is
// 2.5 ulp), q = clamp(roundEven(x · id), −127, 127), slots past K are 0, s = Σ q.
//   DOT=1        4×8-bit packed dot products where the device has them, DOT=0 plain
//                integer multiply-adds (shaders/q8act_dot.glsl).
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "matmul_q8act.h"
#include "div_rn.glsl"

layout(local_size_x_id = 0) in;  // power of two

#if QA_KERNEL == 0
layout(push_constant) uniform Push { QuantizeActPush p; };
layout(std430, binding = QUANTIZE_ACT_BINDING_X) readonly buffer X { float x[]; };
#else
layout(push_constant) uniform Push { MatmulQ8actGemvPush p; };
layout(std430, binding = MATMUL_Q8ACT_GEMV_BINDING_X) readonly buffer X { float x[]; };
#endif

// x[xb .. xb + len) (1 ≤ len ≤ 32; zero past it) as int8 codes q (4 per word), d and s.
// Loops of constant length with selects, not branches, for the tail: a dynamic bound or
// index puts xv and qw in memory (lavapipe: a gather per lane).
void quantize_block(uint xb, uint len, out uint qw[8], out float db, out int sum) {
  float xv[32];
  float amax = 0.0;
  for (uint e = 0; e < 32u; ++e) {
    const float v = x[xb + min(e, len - 1u)];
    xv[e] = e < len ? v : 0.0;
    amax = max(amax, abs(xv[e]));
  }
  db = div_rn(amax, 127.0);
  const float id = db != 0.0 ? div_rn(1.0, db) : 0.0;
  sum = 0;
  for (uint i = 0; i < 8u; ++i) {
    uint word = 0u;
    for (uint c = 0; c < 4u; ++c) {
      precise float t = xv[4u * i + c] * id;
      t = 4u * i + c < len ? t : 0.0;  // not 0 · id: id is +inf when d is subnormal
      const int qe = int(clamp(roundEven(t), -127.0, 127.0));
      sum += qe;
      word |= (uint(qe) & 0xffu) << (8u * c);
    }
    qw[i] = word;
  }
}

#if QA_KERNEL == 0  // ---- quantize -------------------------------------------------------
layout(std430, binding = QUANTIZE_ACT_BINDING_Q) writeonly buffer Q { uint q[]; };
layout(std430, binding = QUANTIZE_ACT_BINDING_D) writeonly buffer D { float d[]; };
layout(std430, binding = QUANTIZE_ACT_BINDING_S) writeonly buffer S { int s[]; };

void main() {
  const uint b = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
  if (b >= p.nb) return;
  const uint k0 = b * 32u;
  uint qw[8];
  float db;
  int sum;
  quantize_block(p.x_off + r * p.x_stride + k0, min(32u, p.K - k0), qw, db, sum);
  for (uint i = 0; i < 8u; ++i) q[(r * p.nb + b) * 8u + i] = qw[i];
  d[r * p.nb + b] = db;
  s[r * p.nb + b] = sum;
}

#else  // ---- GEMV ----------------------------------------------------------------------
#include "q8act_dot.glsl"

layout(constant_id = 1) const uint ROWS = 4;
layout(std430, binding = MATMUL_Q8ACT_GEMV_BINDING_WEIGHT) readonly buffer W { uint ww[]; };
#if WTYPE == KL_WTYPE_Q8_C || WTYPE == KL_WTYPE_Q4_C
layout(std430, binding = MATMUL_Q8ACT_GEMV_BINDING_SCALE) readonly buffer Scales { float wscale[]; };
#endif
layout(std430, binding = MATMUL_Q8ACT_GEMV_BINDING_BIAS) readonly buffer Bias { float bias[]; };
layout(std430, binding = MATMUL_Q8ACT_GEMV_BINDING_OUT) writeonly buffer Out { float o[]; };

shared float red[ROWS * gl_WorkGroupSize.x];

// Nibbles 0..3 (lo = true) or 4..7 of v, one per byte.
uint spread_nibbles(uint v) {
  return (v & 0xfu) | ((v & 0xf0u) << 4) | ((v & 0xf00u) << 8) | ((v & 0xf000u) << 12);
}

// The block's term for the weight row starting at byte `row`, block b (len weights), the
// x block quantised as qw, db, sb.
float block_term(uint row, uint b, uint len, uint qw[8], float db, int sb) {
  int I = 0;
// Q8_C / Q4_C rows end with the last block's words (padded to 4 bytes): word i of a short
// last block is read at min(i, last), since the codes q it would meet are all 0.
#if WTYPE == KL_WTYPE_Q8_C
  const uint base = (row >> 2) + b * 8u, last = (len + 3u) / 4u - 1u;
  for (uint i = 0; i < 8u; ++i) I += dot_ss(qw[i], ww[base + min(i, last)]);
  return db * float(I);
#elif WTYPE == KL_WTYPE_Q4_C
  const uint base = (row >> 2) + b * 4u, last = (len + 7u) / 8u - 1u;
  for (uint i = 0; i < 4u; ++i) {
    const uint v = ww[base + min(i, last)] ^ 0x88888888u;  // signed nibble n ↦ n + 8 ∈ [0, 15]
    I += dot_su(qw[2u * i], spread_nibbles(v)) + dot_su(qw[2u * i + 1u], spread_nibbles(v >> 16));
  }
  I -= 8 * sb;
  return db * float(I);
#else
  // Q8_0 {f16 e; int8 codes[32]} (34 bytes), Q4_0 {f16 e; uint8 codes[16]} (18 bytes): the
  // block at byte blk (even) lies in the M + 1 words from blk / 4, each loaded once; its
  // codes start on a word (blk ≡ 2 mod 4: code word i is word i + 1) or two bytes past one
  // (the halves of words i and i + 1), chosen by a select: lanes see both alignments.
  const uint M = WTYPE == KL_WTYPE_Q8_0 ? 8u : 4u;
  const uint blk = row + b * (WTYPE == KL_WTYPE_Q8_0 ? 34u : 18u), base = blk >> 2;
  const bool on_word = (blk & 2u) != 0u;
  const uint first = ww[base];
  uint prev = first;
  for (uint i = 0; i < M; ++i) {
    const uint next = ww[base + 1u + i];
    const uint v = on_word ? next : (prev >> 16) | (next << 16);
    prev = next;
#if WTYPE == KL_WTYPE_Q8_0
    I += dot_ss(qw[i], v);
#else  // byte m holds element m (low nibble) and 16 + m (high)
    I += dot_su(qw[i], v & 0x0f0f0f0fu) + dot_su(qw[4u + i], (v >> 4) & 0x0f0f0f0fu);
#endif
  }
#if WTYPE == KL_WTYPE_Q4_0
  I -= 8 * sb;
#endif
  precise float de = db * unpackHalf2x16(on_word ? first >> 16 : first).x;
  return de * float(I);
#endif
}

void main() {
  const uint WG = gl_WorkGroupSize.x, tid = gl_LocalInvocationID.x;
  const uint j0 = gl_WorkGroupID.x * ROWS, r = gl_WorkGroupID.y;
  const uint xr = p.x_off + r * p.x_stride;
  float acc[ROWS];
  for (uint i = 0; i < ROWS; ++i) acc[i] = 0.0;
  for (uint b = tid; b < p.nb; b += WG) {
    const uint len = min(32u, p.K - b * 32u);
    uint qw[8];
    float db;
    int sb;
    quantize_block(xr + b * 32u, len, qw, db, sb);
    for (uint i = 0; i < ROWS; ++i) {
      const uint j = min(j0 + i, p.N - 1);  // rows past N are computed and dropped
      precise float t = block_term(p.w_off + j * p.w_stride, b, len, qw, db, sb);
      acc[i] += t;
    }
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
