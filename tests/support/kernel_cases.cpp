// Inputs for the CPU kernel tests (see kernel_cases.h).
#include "support/kernel_cases.h"

#include <algorithm>
#include <cstring>

#include "kllens/check.h"


namespace kllens::test {

Tensor random_f32(Backend& be, std::mt19937& rng, int64_t rows, int64_t cols, float lo, float hi,
                  int64_t pad) {
  Tensor full = be.alloc(DType::F32, {rows, cols + pad});
  // The engine's raw output is the same everywhere; std's distributions are not.
  const std::vector<float> v = check::uniform(rows * (cols + pad), rng(), lo, hi);
  be.upload(full, v.data());
  return pad ? full.slice_cols(pad / 2, cols) : full;
}

Tensor clone(Backend& be, const Tensor& t) {
  Tensor full = be.alloc(t.dtype, {t.rows(), t.row_stride});
  Tensor c = full.slice_cols(int64_t(t.offset / dtype_size(t.dtype)) % t.row_stride, t.cols());
  be.copy(t, c);
  c.shape = t.shape;
  return c;
}

std::vector<float> to_host(Backend& be, const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  be.download(t, v.data());
  return v;
}

Weight random_weight(Backend& be, std::mt19937& rng, DType type, int64_t N, int64_t K,
                     bool bias) {
  Weight w;
  w.w = be.alloc(type, {N, K});
  std::vector<uint8_t> bytes(w.w.span_bytes(), 0);
  // check::uniform streams (portable), drawn one value at a time.
  const std::vector<float> vals = check::uniform(2 * N * K + 1, rng(), -1.0f, 1.0f);
  const std::vector<float> bytev = check::uniform(N * K + 1, rng(), 0.0f, 256.0f);
  size_t vi = 0, bi = 0;
  auto next_val = [&] { return vals[vi++]; };
  auto next_byte = [&] { return std::min(int(bytev[bi++]), 255); };
  const size_t rb = w.w.row_bytes();
  for (int64_t j = 0; j < N; ++j) {
    uint8_t* row = bytes.data() + size_t(j) * rb;
    for (int64_t k = 0; k < K; ++k) {
      switch (type) {
        case DType::F32: {
          const float f = next_val();
          std::memcpy(row + 4 * k, &f, 4);
          break;
        }
        case DType::F16: {
          const uint16_t h = f32_to_f16(next_val());
          std::memcpy(row + 2 * k, &h, 2);
          break;
        }
        case DType::BF16: {
          const uint16_t h = f32_to_bf16(next_val());
          std::memcpy(row + 2 * k, &h, 2);
          break;
        }
        case DType::Q8_C: row[k] = uint8_t(next_byte()); break;
        case DType::Q4_C: row[k / 2] |= uint8_t((next_byte() & 0xf) << ((k & 1) * 4)); break;
        case DType::Q8_0: {
          uint8_t* blk = row + (k / 32) * 34;
          if (k % 32 == 0) {
            const uint16_t d = f32_to_f16(1.0f / 127.0f * (0.5f + 0.5f * std::abs(next_val())));
            std::memcpy(blk, &d, 2);
          }
          blk[2 + k % 32] = uint8_t(next_byte());
          break;
        }
        case DType::Q4_0: {
          uint8_t* blk = row + (k / 32) * 18;
          if (k % 32 == 0) {
            const uint16_t d = f32_to_f16(1.0f / 8.0f * (0.5f + 0.5f * std::abs(next_val())));
            std::memcpy(blk, &d, 2);
          }
          const int j = int(k % 32);
          blk[2 + j % 16] |= uint8_t((next_byte() & 0xf) << (j < 16 ? 0 : 4));
          break;
        }
        default: break;
      }
    }
  }
  be.upload(w.w, bytes.data());
  if (type == DType::Q8_C || type == DType::Q4_C) {
    std::vector<float> scale = check::uniform(N, rng(), 0.5f, 1.0f);
    for (float& f : scale) f /= type == DType::Q8_C ? 127.0f : 8.0f;
    w.scale = be.alloc(DType::F32, {N});
    be.upload(w.scale, scale.data());
  }
  if (bias) w.bias = random_f32(be, rng, 1, N, -1.0f, 1.0f).reshape({N});
  return w;
}

}  // namespace kllens::test
