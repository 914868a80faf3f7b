// matmul_q8act, reference tier and dispatcher: the arithmetic of matmul_q8act.h, literally.
#include "cpu/matmul_q8act.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/dequant.h"
#include "kllens/error.h"

namespace kllens::cpu {

bool matmul_q8act_supports(DType t) {
  return t == DType::Q8_C || t == DType::Q4_C || t == DType::Q8_0 || t == DType::Q4_0;
}

// ---- step 1: activations ------------------------------------------------------------------

void quantize_act_q8_ref(const float* x, int64_t K, int8_t* q, float* d, int32_t* s) {
  const int64_t nb = act_blocks(K);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t k0 = b * kActBlock, k1 = std::min(K, k0 + kActBlock);
    float amax = 0.0f;
    for (int64_t k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(x[k]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t sum = 0;
    for (int64_t k = k0; k < k0 + kActBlock; ++k) {
      int v = 0;
      if (k < k1) v = int(std::clamp(std::nearbyint(x[k] * id), -127.0f, 127.0f));
      q[k] = int8_t(v);  // round half to even: the default rounding mode
      sum += v;
    }
    d[b] = db;
    s[b] = sum;
  }
}

// ---- step 2: integer weights of one block -------------------------------------------------

float q8act_weight_block(DType t, const uint8_t* row, int64_t K, int64_t b, int32_t* w) {
  const int64_t k0 = b * kActBlock, len = std::min(kActBlock, K - k0);
  std::fill(w, w + kActBlock, 0);
  float e = 1.0f;
  uint16_t h;
  switch (t) {
    case DType::Q8_C:
      for (int64_t i = 0; i < len; ++i) w[i] = int8_t(row[k0 + i]);
      break;
    case DType::Q4_C:
      for (int64_t i = 0; i < len; ++i) w[i] = q4c_value(row, k0 + i);
      break;
    case DType::Q8_0: {  // {f16 d; int8 qs[32]}
      const uint8_t* blk = row + b * 34;
      std::memcpy(&h, blk, 2);
      e = f16_to_f32(h);
      for (int64_t i = 0; i < len; ++i) w[i] = int8_t(blk[2 + i]);
      break;
    }
    case DType::Q4_0: {  // {f16 d; uint8 qs[16]}: low nibbles 0..15, high 16..31
      const uint8_t* blk = row + b * 18;
      std::memcpy(&h, blk, 2);
      e = f16_to_f32(h);
      for (int64_t i = 0; i < len; ++i)
        w[i] = (i < 16 ? (blk[2 + i] & 0xf) : (blk[2 + i - 16] >> 4)) - 8;
      break;
    }
    default:
      fail("matmul_q8act: {} is not an integer weight type", dtype_name(t));
  }
  return e;
}

// ---- step 3: the products -----------------------------------------------------------------

void matmul_q8act_ref(const Tensor& x, const Weight& w, const Tensor& out) {
  const int64_t n = x.rows(), K = x.cols(), N = w.out_features(), nb = act_blocks(K);
  const DType t = w.w.dtype;
  const bool per_row = t == DType::Q8_C || t == DType::Q4_C;
  const auto* W = w.w.data<uint8_t>();
  const float* bias = w.bias.empty() ? nullptr : w.bias.data<float>();
  std::vector<int8_t> q(size_t(n * nb * kActBlock));  // [n, nb·32]
  std::vector<float> d(size_t(n * nb));                // [n, nb]
  std::vector<int32_t> s(size_t(n * nb));              // [n, nb]
  for (int64_t r = 0; r < n; ++r)
    quantize_act_q8_ref(x.data<float>() + r * x.row_stride, K, &q[size_t(r * nb * kActBlock)],
                        &d[size_t(r * nb)], &s[size_t(r * nb)]);
  std::vector<int32_t> wb(size_t(nb * kActBlock));  // [nb, 32] integer weights of row j
  std::vector<float> e(static_cast<size_t>(nb));     // [nb]
  for (int64_t j = 0; j < N; ++j) {
    const uint8_t* row = W + size_t(j) * w.w.row_bytes();
    for (int64_t b = 0; b < nb; ++b) e[size_t(b)] = q8act_weight_block(t, row, K, b, &wb[size_t(b * kActBlock)]);
    for (int64_t r = 0; r < n; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t I = 0;
        for (int64_t i = 0; i < kActBlock; ++i)
          I += int32_t(q[size_t((r * nb + b) * kActBlock + i)]) * wb[size_t(b * kActBlock + i)];
        const float db = d[size_t(r * nb + b)];
        acc += (per_row ? db : db * e[size_t(b)]) * float(I);
      }
      if (per_row) acc *= w.scale.data<float>()[j];
      if (bias) acc += bias[j];
      out.data<float>()[r * out.row_stride + j] = acc;
    }
  }
}

void matmul_q8act(CpuTier tier, const Tensor& x, const Weight& w, const Tensor& out) {
  if (runs_avx2(tier)) return matmul_q8act_avx2(x, w, out);
  matmul_q8act_ref(x, w, out);
}

}  // namespace kllens::cpu
