// div_rn(a, b): a / b correctly rounded to nearest even, in integer arithmetic. GLSL's
// division is only accurate to 2.5 ulp; quantisers that must reproduce the CPU's bytes
// or codes exactly (quantize_weight.comp, matmul_q8act.comp) divide with this.
#ifndef KLLENS_DIV_RN_GLSL
#define KLLENS_DIV_RN_GLSL

// a / b correctly rounded (nearest even) for finite a and normal b > 0. Quotients below
// the normal range return ±0 (they only feed rne(), which makes them 0 anyway).
float div_rn(float a, float b) {
  const uint ua = floatBitsToUint(a), ub = floatBitsToUint(b);
  const uint sign = ua & 0x80000000u;
  uint ma = ua & 0x7fffffu;
  const uint ea = (ua >> 23) & 0xffu, mb = (ub & 0x7fffffu) | 0x800000u;
  if (ea == 0u && ma == 0u) return a;
  int e;
  if (ea == 0u) {  // subnormal a: normalise
    const int msb = findMSB(ma);
    ma <<= uint(23 - msb);
    e = -126 - (23 - msb);
  } else {
    ma |= 0x800000u;
    e = int(ea) - 127;
  }
  e -= int((ub >> 23) & 0xffu) - 127;
  // ma, mb ∈ [2^23, 2^24): q = ⌊ma/mb · 2^25⌋ ∈ [2^24, 2^26), r the remainder.
  uint r = ma, q = 0u;
  for (int i = 0; i < 26; ++i) {
    q <<= 1;
    if (r >= mb) {
      r -= mb;
      q |= 1u;
    }
    r <<= 1;
  }
  e -= 25;  // a/b = (q + r/mb) · 2^e
  uint sticky = r != 0u ? 1u : 0u;
  if (q >= (1u << 25)) {
    sticky |= q & 1u;
    q >>= 1;
    e += 1;
  }
  const uint guard = q & 1u;  // q ∈ [2^24, 2^25): 24 bits and a guard bit
  q >>= 1;
  e += 1;
  if (guard != 0u && (sticky != 0u || (q & 1u) != 0u)) q += 1u;
  if (q == (1u << 24)) {
    q >>= 1;
    e += 1;
  }
  const int be = e + 23 + 127;  // biased exponent of q · 2^e, q ∈ [2^23, 2^24)
  if (be <= 0) return uintBitsToFloat(sign);
  if (be >= 255) return uintBitsToFloat(sign | 0x7f800000u);
  return uintBitsToFloat(sign | (uint(be) << 23) | (q & 0x7fffffu));
}

#endif
