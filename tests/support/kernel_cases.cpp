// Inputs for the CPU kernel tests (see kernel_cases.h).
#include "support/kernel_cases.h"

#include <cstring>

#include "cpu/cpu_features.h"

namespace kllens::test {

Tensor random_f32(Backend& be, std::mt19937& rng, int64_t rows, int64_t cols, float lo, float hi,
                  int64_t pad) {
  Tensor full = be.alloc(DType::F32, {rows, cols + pad});
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(rows * (cols + pad)));
  for (float& f : v) f = dist(rng);
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
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  const size_t rb = w.w.row_bytes();
  for (int64_t j = 0; j < N; ++j) {
    uint8_t* row = bytes.data() + size_t(j) * rb;
    for (int64_t k = 0; k < K; ++k) {
      switch (type) {
        case DType::F32: {
          const float f = val(rng);
          std::memcpy(row + 4 * k, &f, 4);
          break;
        }
        case DType::F16: {
          const uint16_t h = f32_to_f16(val(rng));
          std::memcpy(row + 2 * k, &h, 2);
          break;
        }
        case DType::BF16: {
          const uint16_t h = f32_to_bf16(val(rng));
          std::memcpy(row + 2 * k, &h, 2);
          break;
        }
        case DType::Q8_C: row[k] = uint8_t(byte(rng)); break;
        case DType::Q4_C: row[k / 2] |= uint8_t((byte(rng) & 0xf) << ((k & 1) * 4)); break;
        case DType::Q8_0: {
          uint8_t* blk = row + (k / 32) * 34;
          if (k % 32 == 0) {
            const uint16_t d = f32_to_f16(1.0f / 127.0f * (0.5f + 0.5f * std::abs(val(rng))));
            std::memcpy(blk, &d, 2);
          }
          blk[2 + k % 32] = uint8_t(byte(rng));
          break;
        }
        case DType::Q4_0: {
          uint8_t* blk = row + (k / 32) * 18;
          if (k % 32 == 0) {
            const uint16_t d = f32_to_f16(1.0f / 8.0f * (0.5f + 0.5f * std::abs(val(rng))));
            std::memcpy(blk, &d, 2);
          }
          const int j = int(k % 32);
          blk[2 + j % 16] |= uint8_t((byte(rng) & 0xf) << (j < 16 ? 0 : 4));
          break;
        }
        default: break;
      }
    }
  }
  be.upload(w.w, bytes.data());
  if (type == DType::Q8_C || type == DType::Q4_C) {
    std::uniform_real_distribution<float> s(0.5f, 1.0f);
    std::vector<float> scale(static_cast<size_t>(N));
    for (float& f : scale) f = s(rng) / (type == DType::Q8_C ? 127.0f : 8.0f);
    w.scale = be.alloc(DType::F32, {N});
    be.upload(w.scale, scale.data());
  }
  if (bias) w.bias = random_f32(be, rng, 1, N, -1.0f, 1.0f).reshape({N});
  return w;
}

ScalarTier::ScalarTier() { cpu::set_force_scalar(true); }
ScalarTier::~ScalarTier() { cpu::set_force_scalar(false); }

}  // namespace kllens::test
