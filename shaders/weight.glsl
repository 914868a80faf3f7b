// Weight access for the -DWTYPE variants of embed and matmul. Declares the weight buffer
// (binding W_BINDING; and, for Q8_C / Q4_C matmul, the per-row scales at S_BINDING) and
//   float weight_at(uint row, uint k, uint j)
// = the value of element k of the stored row that starts at `row` (elements for plain
// types, bytes for quantised ones) of output row j, converted to fp32 exactly as the CPU
// reference's dequant_row does:
//   F32 as is; F16 via 16-bit storage; BF16 read as uint16 and shifted into an fp32;
//   Q8_C / Q4_C  scale[j] · q   (int8 / signed nibble, low nibble first; rows 4-byte padded)
//   Q8_0 / Q4_0  d · q          (ggml blocks {f16 d; int8 qs[32]} / {f16 d; uint8 qs[16]},
//                                value d·(nibble−8), low nibbles = elements 0..15)
// Quantised rows are read as 32-bit words (no 8-bit storage needed).
#ifndef KLLENS_WEIGHT_GLSL
#define KLLENS_WEIGHT_GLSL
#if WTYPE == KL_WTYPE_F32
#define WT float
#elif WTYPE == KL_WTYPE_F16
#extension GL_EXT_shader_16bit_storage : require
#define WT float16_t
#elif WTYPE == KL_WTYPE_BF16
#extension GL_EXT_shader_16bit_storage : require
#define WT uint16_t
#elif WTYPE >= KL_WTYPE_Q8_C && WTYPE <= KL_WTYPE_Q4_0
#define WT uint
#define WQUANT 1
#else
#error unknown WTYPE
#endif

layout(std430, binding = W_BINDING) readonly buffer Weights { WT w[]; };
#if defined(S_BINDING) && (WTYPE == KL_WTYPE_Q8_C || WTYPE == KL_WTYPE_Q4_C)
layout(std430, binding = S_BINDING) readonly buffer Scales { float wscale[]; };
#endif

#ifdef WQUANT
uint wbyte(uint b) { return (w[b >> 2] >> ((b & 3u) * 8u)) & 0xffu; }
int wint8(uint b) { return int(wbyte(b) << 24) >> 24; }
float whalf(uint b) { return unpackHalf2x16(wbyte(b) | (wbyte(b + 1u) << 8)).x; }
#endif

float weight_at(uint row, uint k, uint j) {
#if WTYPE == KL_WTYPE_F32
  return w[row + k];
#elif WTYPE == KL_WTYPE_F16
  return float(w[row + k]);
#elif WTYPE == KL_WTYPE_BF16
  return uintBitsToFloat(uint(w[row + k]) << 16);
#elif WTYPE == KL_WTYPE_Q8_C
  return wscale[p.s_off + j] * float(wint8(row + k));
#elif WTYPE == KL_WTYPE_Q4_C
  const int nib = int((wbyte(row + (k >> 1)) >> ((k & 1u) * 4u)) & 0xfu);
  return wscale[p.s_off + j] * float(nib >= 8 ? nib - 16 : nib);
#elif WTYPE == KL_WTYPE_Q8_0
  const uint blk = row + (k >> 5) * 34u;
  return whalf(blk) * float(wint8(blk + 2u + (k & 31u)));
#else  // Q4_0
  const uint blk = row + (k >> 5) * 18u, e = k & 31u;
  const uint nib = e < 16u ? (wbyte(blk + 2u + e) & 0xfu) : (wbyte(blk + 2u + e - 16u) >> 4);
  return whalf(blk) * float(int(nib) - 8);
#endif
}
#endif
