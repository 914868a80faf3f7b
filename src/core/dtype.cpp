// Element type names, sizes and the scalar fp16 conversions.
#include "kllens/dtype.h"

#include "kllens/error.h"

namespace kllens {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::Q8_C: return "Q8_C";
    case DType::Q4_C: return "Q4_C";
    case DType::Q8_0: return "Q8_0";
    case DType::Q4_0: return "Q4_0";
  }
  return "?";
}

DType dtype_from_safetensors(std::string_view s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "I32") return DType::I32;
  if (s == "I64") return DType::I64;
  fail("unsupported dtype \"{}{}\" (expected F32, F16, BF16, I32 or I64)", s.substr(0, 16), s.size() > 16 ? "..." : "");
}

bool dtype_is_quantized(DType t) {
  return t == DType::Q8_C || t == DType::Q4_C || t == DType::Q8_0 || t == DType::Q4_0;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::I64: return 8;
    default: fail("dtype {} has no per-element size", dtype_name(t));
  }
}

size_t dtype_row_bytes(DType t, int64_t cols) {
  const size_t n = size_t(cols);
  switch (t) {
    case DType::Q8_C: return (n + 3) / 4 * 4;
    case DType::Q4_C: return ((n + 1) / 2 + 3) / 4 * 4;
    case DType::Q8_0: return (n + 31) / 32 * 34;
    case DType::Q4_0: return (n + 31) / 32 * 18;
    default: return n * dtype_size(t);
  }
}

// IEEE half: 1 sign, 5 exponent, 10 mantissa bits.
float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    u = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while ((mant & 0x400) == 0) { mant <<= 1; --exp; }
    u = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000;
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00);           // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00);          // overflow -> inf
  if (abs < 0x38800000u) {                                         // subnormal or zero
    if (abs < 0x33000000u) return uint16_t(sign);                  // below half of min subnormal
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - e;                                // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = abs - 0x38000000u;                                  // rebias exponent 127 -> 15
  r += 0xfff + ((r >> 13) & 1);                                    // round to nearest even
  return uint16_t(sign | (r >> 13));
}

}  // namespace kllens
