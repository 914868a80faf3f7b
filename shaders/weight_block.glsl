// Weight access by 32-blocks for matmul_gemv.comp (after weight.glsl, which declares w[]
// and the per-row scales). A block's 32 weights are split into SPLIT units (a
// specialization constant: 1, 2 or 4 threads per block) of E = 32 / SPLIT weights; a unit
// is read as whole 32-bit words from a second view of the weight binding, its scale once:
//   float unit_dot(uint row, uint blk, uint part, float xv[32])
// = Σ over the unit's weights of code · xv[e] (times the block scale d for Q8_0 / Q4_0;
// Q8_C / Q4_C return the bare integer sum, the caller applies the row scale once), and
//   uint unit_x(uint part, uint e)
// = the block-relative index k of the unit's e-th weight (xv[e] must hold x[32·blk + k]).
//
// Alignment the launcher guarantees (else it runs the element-by-element variant):
//   F16 / BF16  row start (elements) even;  Q8_C / Q4_C  row start (bytes) a multiple of 4;
//   Q8_0 / Q4_0 row start (bytes) even: a block is 34 / 18 bytes, so its codes start on a
//               word boundary or two bytes past one (code_words).
//   F32         none (plain loads).
// Unit layouts (E weights):
//   F32 E floats; F16 / BF16 E/2 words, two values each (low half first);
//   Q8_C E/4 words of int8, Q4_C E/8 words of signed nibbles (low nibble first);
//   Q8_0 {f16 d; int8 qs[32]}: E/4 words of qs; Q4_0 {f16 d; uint8 qs[16]}: E/8 words of qs,
//   byte m of qs holding element m (low nibble) and 16 + m (high): nibble c of word i
//   (bits 4c..4c+3) is element 4i + c/2 + 16·(c odd).
#ifndef KLLENS_WEIGHT_BLOCK_GLSL
#define KLLENS_WEIGHT_BLOCK_GLSL

#if WTYPE != KL_WTYPE_F32
layout(std430, binding = W_BINDING) readonly buffer WeightWords { uint ww[]; };
#endif

const uint E = 32u / SPLIT;

#if WTYPE == KL_WTYPE_Q8_0 || WTYPE == KL_WTYPE_Q4_0
// The unit's M code words of the Q8_0 / Q4_0 block at byte b (even): the M + 1 words from
// (b + 4·M·part) / 4 are loaded, every one once, and code word i is word i + 1 when the
// codes start on a word (b ≡ 2 mod 4) or the two halves of words i and i + 1 (b ≡ 0). The
// choice is a select, not a branch: lanes of one subgroup see both alignments.
const uint M = (WTYPE == KL_WTYPE_Q8_0 ? 8u : 4u) / SPLIT;
void code_words(uint b, uint part, out uint codes[8], out uint first) {
  const uint base = (b + 4u * M * part) >> 2;
  const bool on_word = (b & 2u) != 0u;
  uint prev = ww[base];
  first = prev;
  for (uint i = 0; i < M; ++i) {
    const uint next = ww[base + 1u + i];
    codes[i] = on_word ? next : (prev >> 16) | (next << 16);
    prev = next;
  }
}
// The f16 block scale at byte b (even); `first` is the word at b / 4 when part is 0.
float block_scale(uint b, uint first) {
  const uint v = SPLIT == 1u ? first : ww[b >> 2];
  return unpackHalf2x16((b & 2u) == 0u ? v : v >> 16).x;
}
#endif

uint unit_x(uint part, uint e) {
#if WTYPE == KL_WTYPE_Q4_0
  const uint wi = part * (E / 8u) + e / 8u, c = e % 8u;  // nibble c of code word wi
  return 4u * wi + c / 2u + (c & 1u) * 16u;
#else
  return part * E + e;
#endif
}

float unit_dot(uint row, uint blk, uint part, float xv[32]) {
  float s = 0.0;
#if WTYPE == KL_WTYPE_F32
  const uint base = row + blk * 32u + part * E;
  for (uint e = 0; e < E; ++e) s += w[base + e] * xv[e];
#elif WTYPE == KL_WTYPE_F16 || WTYPE == KL_WTYPE_BF16
  const uint base = (row >> 1) + blk * 16u + part * (E / 2u);
  for (uint i = 0; i < E / 2u; ++i) {
    const uint v = ww[base + i];
#if WTYPE == KL_WTYPE_F16
    const vec2 h = unpackHalf2x16(v);
#else
    const vec2 h = vec2(uintBitsToFloat(v << 16), uintBitsToFloat(v & 0xffff0000u));
#endif
    s += h.x * xv[2u * i] + h.y * xv[2u * i + 1u];
  }
#elif WTYPE == KL_WTYPE_Q8_C
  const uint base = (row >> 2) + blk * 8u + part * (E / 4u);
  for (uint i = 0; i < E / 4u; ++i) {
    const int v = int(ww[base + i]);
    for (int c = 0; c < 4; ++c) s += float(bitfieldExtract(v, 8 * c, 8)) * xv[4u * i + uint(c)];
  }
#elif WTYPE == KL_WTYPE_Q4_C
  const uint base = (row >> 2) + blk * 4u + part * (E / 8u);
  for (uint i = 0; i < E / 8u; ++i) {
    const int v = int(ww[base + i]);
    for (int c = 0; c < 8; ++c) s += float(bitfieldExtract(v, 4 * c, 4)) * xv[8u * i + uint(c)];
  }
#elif WTYPE == KL_WTYPE_Q8_0
  const uint b = row + blk * 34u;
  uint codes[8], first;
  code_words(b, part, codes, first);
  for (uint i = 0; i < M; ++i) {
    const int v = int(codes[i]);
    for (int c = 0; c < 4; ++c) s += float(bitfieldExtract(v, 8 * c, 8)) * xv[4u * i + uint(c)];
  }
  s *= block_scale(b, first);
#else  // Q4_0
  const uint b = row + blk * 18u;
  uint codes[8], first;
  code_words(b, part, codes, first);
  for (uint i = 0; i < M; ++i) {
    const uint v = codes[i];
    for (uint c = 0; c < 8u; ++c) s += float(int((v >> (4u * c)) & 0xfu) - 8) * xv[8u * i + c];
  }
  s *= block_scale(b, first);
#endif
  return s;
}

// Element k of row j without the Q8_C / Q4_C row scale (the caller applies it once).
float weight_code_at(uint row, uint k, uint j) {
#if WTYPE == KL_WTYPE_Q8_C
  return float(wint8(row + k));
#elif WTYPE == KL_WTYPE_Q4_C
  const int nib = int((wbyte(row + (k >> 1)) >> ((k & 1u) * 4u)) & 0xfu);
  return float(nib >= 8 ? nib - 16 : nib);
#else
  return weight_at(row, k, j);
#endif
}

#endif
