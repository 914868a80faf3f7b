// Scalar weight-row conversion to F32 (see dequant.h).
#include "cpu/dequant.h"

#include <cstring>

#include "kllens/error.h"

namespace kllens::cpu {

void dequant_row(DType type, const void* row, int64_t cols, float scale, float* out) {
  const auto* b = static_cast<const uint8_t*>(row);
  switch (type) {
    case DType::F32:
      std::memcpy(out, row, size_t(cols) * 4);
      return;
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(row);
      for (int64_t k = 0; k < cols; ++k) out[k] = f16_to_f32(h[k]);
      return;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint16_t*>(row);
      for (int64_t k = 0; k < cols; ++k) out[k] = bf16_to_f32(h[k]);
      return;
    }
    case DType::Q8_C: {
      const auto* q = static_cast<const int8_t*>(row);
      for (int64_t k = 0; k < cols; ++k) out[k] = scale * float(q[k]);
      return;
    }
    case DType::Q4_C:
      for (int64_t k = 0; k < cols; ++k) out[k] = scale * float(q4c_value(b, k));
      return;
    case DType::Q8_0:  // blocks {f16 d; int8 qs[32]}
      for (int64_t k = 0; k < cols; ++k) {
        const uint8_t* blk = b + (k / 32) * 34;
        uint16_t d;
        std::memcpy(&d, blk, 2);
        out[k] = f16_to_f32(d) * float(int8_t(blk[2 + k % 32]));
      }
      return;
    case DType::Q4_0:  // blocks {f16 d; uint8 qs[16]}: low nibbles 0..15, high 16..31
      for (int64_t k = 0; k < cols; ++k) {
        const uint8_t* blk = b + (k / 32) * 18;
        uint16_t d;
        std::memcpy(&d, blk, 2);
        const int j = int(k % 32);
        const int nib = j < 16 ? (blk[2 + j] & 0xf) : (blk[2 + j - 16] >> 4);
        out[k] = f16_to_f32(d) * float(nib - 8);
      }
      return;
    default:
      fail("dequant_row: {} is not a weight type", dtype_name(type));
  }
}

}  // namespace kllens::cpu
