// rope, reference tier and dispatcher (formula in rope.h).
#include "cpu/rope.h"

#include <cmath>
#include <vector>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void rope_angles(const float* inv_freq, int64_t pos, int64_t half, float* cs) {
  const float p = float(pos);
  for (int64_t k = 0; k < half; ++k) {
    const float ang = p * inv_freq[k];
    cs[k] = std::cos(ang);
    cs[half + k] = std::sin(ang);
  }
}

void rope_ref(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
              int64_t past, int64_t heads, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  std::vector<float> cs(static_cast<size_t>(2 * half));  // [cos | sin] of one position
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seqlen; ++t) {
      rope_angles(inv_freq.data<float>(), past + t, half, cs.data());
      float* row = x.data<float>() + (b * seqlen + t) * x.row_stride;
      for (int64_t h = 0; h < heads; ++h) {
        float* v = row + h * head_dim;
        for (int64_t k = 0; k < half; ++k) {
          const float x1 = v[k], x2 = v[k + half], c = cs[size_t(k)], s = cs[size_t(half + k)];
          v[k] = x1 * c - x2 * s;
          v[k + half] = x2 * c + x1 * s;
        }
      }
    }
}

void rope(CpuTier tier, const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen, int64_t past,
          int64_t heads, int64_t head_dim) {
  if (runs_avx2(tier)) return rope_avx2(x, inv_freq, batch, seqlen, past, heads, head_dim);
  rope_ref(x, inv_freq, batch, seqlen, past, heads, head_dim);
}

}  // namespace kllens::cpu
