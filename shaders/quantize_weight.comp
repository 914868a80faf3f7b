#version 450
// quantize_weight: symmetric abs-max quantisation of one linear weight [N, K] (F32, F16 or
// BF16) into Q8_C / Q4_C (one F32 scale per row) or Q8_0 / Q4_0 (ggml blocks of 32, FP16 d),
// byte for byte as the CPU's host quantiser (src/quant/quantize.cpp):
//   channel:  s = max(max_k |w[k]|, 1e-5) / qmax;                q[k] = clamp(rne(w[k] / s))
//   group:    d = fp16(max(max_{k∈G} |w[k]|, 1e-5) / qmax),  ds = f32(d);  q[k] = clamp(rne(w[k] / ds))
// clamp to [−qmax−1, qmax]; Q4_0 stores q + 8; unused slots and row padding are zero.
// GLSL division is only accurate to 2.5 ulp, so both divisions are done exactly here
// (div_rn: integer long division of the mantissas, round to nearest even), as is the
// f32 → f16 rounding (packHalf2x16's rounding mode is the driver's choice). The bytes
// then equal the CPU's in every case, ties included.
//   QW_KERNEL 0  scales: one workgroup per row; channel: a max-reduction over the row,
//                groups: one thread per group. Scales as F32 bits in `sc` [N, ng].
//   QW_KERNEL 1  packing: one thread per 32-bit output word, each of its 4 bytes computed
//                from (row, byte in row) — rows of Q8_0/Q4_0 are not word-aligned, and no
//                word is written twice.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "quantize_weight.h"

layout(local_size_x_id = 0) in;  // power of two
layout(push_constant) uniform Push { QuantizeWeightPush p; };
layout(std430, binding = QUANTIZE_WEIGHT_BINDING_SRC) readonly buffer Src { uint w[]; };
#if QW_KERNEL == 0
layout(std430, binding = QUANTIZE_WEIGHT_BINDING_SCALE) writeonly buffer Sc { uint sc[]; };
#else
layout(std430, binding = QUANTIZE_WEIGHT_BINDING_SCALE) readonly buffer Sc { uint sc[]; };
layout(std430, binding = QUANTIZE_WEIGHT_BINDING_OUT) writeonly buffer Out { uint o[]; };
#endif

// Exact fp16 → fp32 (subnormals, inf, NaN).
float half_to_float(uint h) {
  const uint s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0u) return uintBitsToFloat(s) + (s != 0u ? -1.0 : 1.0) * float(m) * 5.9604644775390625e-8;
  if (e == 31u) return uintBitsToFloat(s | 0x7f800000u | (m << 13));
  return uintBitsToFloat(s | ((e + 112u) << 23) | (m << 13));
}

// fp32 → fp16 bits, round to nearest even (kllens::f32_to_f16).
uint float_to_half(float f) {
  const uint u = floatBitsToUint(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;
  if (a >= 0x477ff000u) return sign | 0x7c00u;
  if (a < 0x38800000u) {
    if (a < 0x33000000u) return sign;
    const uint e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126u - e;
    uint r = m >> shift;
    const uint rem = m & ((1u << shift) - 1u), half_ = 1u << (shift - 1u);
    if (rem > half_ || (rem == half_ && (r & 1u) != 0u)) ++r;
    return sign | r;
  }
  uint r = a - 0x38000000u;
  r += 0xfffu + ((r >> 13) & 1u);
  return sign | (r >> 13);
}

#include "div_rn.glsl"

float src_at(uint j, uint k) {
  const uint e = p.src_off + j * p.src_stride + k;
  if (p.src_type == KL_WTYPE_F32) return uintBitsToFloat(w[e]);
  const uint h = (w[e >> 1] >> ((e & 1u) * 16u)) & 0xffffu;
  if (p.src_type == KL_WTYPE_BF16) return uintBitsToFloat(h << 16);
  return half_to_float(h);
}

#if QW_KERNEL == 0  // ---- scales ---------------------------------------------------------
shared float red[gl_WorkGroupSize.x];

void main() {
  const uint j = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  const float qmax = float(p.qmax);
  if (p.group == 0u) {
    float m = 0.0;
    for (uint k = tid; k < p.K; k += WG) m = max(m, abs(src_at(j, k)));
    red[tid] = m;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
      if (tid < s) red[tid] = max(red[tid], red[tid + s]);
      barrier();
    }
    if (tid == 0u) sc[p.sc_off + j] = floatBitsToUint(div_rn(max(red[0], 1e-5), qmax));
  } else {
    for (uint g = tid; g < p.ng; g += WG) {
      const uint k0 = g * p.group, k1 = min(p.K, k0 + p.group);
      float m = 0.0;
      for (uint k = k0; k < k1; ++k) m = max(m, abs(src_at(j, k)));
      const uint d16 = float_to_half(div_rn(max(m, 1e-5), qmax));
      sc[p.sc_off + j * p.ng + g] = floatBitsToUint(half_to_float(d16));
    }
  }
}

#else  // ---- QW_KERNEL 1: packing ----------------------------------------------------------
int quant(uint j, uint k, float s) {
  const float q = roundEven(div_rn(src_at(j, k), s));
  return int(clamp(q, -float(p.qmax) - 1.0, float(p.qmax)));
}

uint byte_at(uint j, uint o) {
  if (p.type == KL_WTYPE_Q8_C) {
    return o < p.K ? uint(quant(j, o, uintBitsToFloat(sc[p.sc_off + j]))) & 0xffu : 0u;
  }
  if (p.type == KL_WTYPE_Q4_C) {
    const float s = uintBitsToFloat(sc[p.sc_off + j]);
    const uint k0 = 2u * o;
    const uint lo = k0 < p.K ? uint(quant(j, k0, s)) & 0xfu : 0u;
    const uint hi = k0 + 1u < p.K ? uint(quant(j, k0 + 1u, s)) & 0xfu : 0u;
    return lo | (hi << 4);
  }
  const uint bb = p.type == KL_WTYPE_Q8_0 ? 34u : 18u;
  const uint blk = o / bb, e = o - blk * bb;
  const float ds = uintBitsToFloat(sc[p.sc_off + j * p.ng + blk]);
  if (e < 2u) return (float_to_half(ds) >> (8u * e)) & 0xffu;
  if (p.type == KL_WTYPE_Q8_0) {
    const uint k = blk * 32u + e - 2u;
    return k < p.K ? uint(quant(j, k, ds)) & 0xffu : 0u;
  }
  const uint k = blk * 32u + e - 2u;
  const uint lo = k < p.K ? uint(quant(j, k, ds) + 8) : 0u;
  const uint hi = k + 16u < p.K ? uint(quant(j, k + 16u, ds) + 8) : 0u;
  return lo | (hi << 4);
}

void main() {
  const uint word = gl_GlobalInvocationID.y * p.wpr + gl_GlobalInvocationID.x;
  if (word >= p.words) return;
  uint v = 0u;
  for (uint i = 0u; i < 4u; ++i) {
    const uint b = word * 4u + i, j = b / p.row_bytes;
    if (j < p.N) v |= byte_at(j, b - j * p.row_bytes) << (8u * i);
  }
  o[p.out_off + word] = v;
}
#endif
