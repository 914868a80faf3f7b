// Element types of tensors and weights, and scalar conversions between them.
//
// Plain types (F32, F16, BF16, I32, I64) are stored one element after another.
// Quantised weight types store a [rows, cols] matrix row by row:
//   Q8_C / Q4_C  per output channel: int8 values (Q4_C: two signed nibbles per byte,
//                low nibble first) for each row, rows padded to 4 bytes; the F32 scale of
//                each row lives in a separate tensor (Weight::scale).
//   Q8_0 / Q4_0  groups of 32 along a row, byte for byte ggml's block_q8_0 / block_q4_0:
//                Q8_0 = {f16 d; int8 qs[32]}, Q4_0 = {f16 d; uint8 qs[16]} with
//                value = d * (nibble - 8), low nibbles = elements 0..15, high = 16..31.
//                A row whose length is not a multiple of 32 ends in a shorter last group
//                stored in a full block (unused slots zero).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace kllens {

enum class DType : uint8_t { F32, F16, BF16, I32, I64, Q8_C, Q4_C, Q8_0, Q4_0 };

std::string_view dtype_name(DType t);
// Parses the safetensors spelling ("F32", "F16", "BF16", "I32", "I64"). Throws on others.
DType dtype_from_safetensors(std::string_view s);
// Bytes of one element for plain types. Throws for quantised types.
size_t dtype_size(DType t);
bool dtype_is_quantized(DType t);
// Bytes of one stored row of `cols` elements (plain and quantised types).
size_t dtype_row_bytes(DType t, int64_t cols);

// ---- fp16 / bf16 <-> fp32 (round to nearest even, NaN preserved) -------------------

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace kllens
