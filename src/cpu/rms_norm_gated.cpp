// rms_norm_gated, reference tier and dispatcher (formula in rms_norm_gated.h), in torch's
// order: gate in fp32, mean of squares in order, normalise, then the weight.
#include "cpu/rms_norm_gated.h"

#include <cmath>
#include <vector>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void rms_norm_gated_ref(const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                        float eps, const Tensor& out) {
  const int64_t n = y.rows(), I = y.cols(), gs = group_size;
  const float* wp = w.data<float>();
  std::vector<float> v(static_cast<size_t>(gs));  // [gs] gated values of one group
  for (int64_t r = 0; r < n; ++r) {
    const float* yr = y.data<float>() + r * y.row_stride;
    const float* zr = z.data<float>() + r * z.row_stride;
    float* o = out.data<float>() + r * out.row_stride;
    for (int64_t g0 = 0; g0 < I; g0 += gs) {
      float ss = 0.0f;
      for (int64_t k = 0; k < gs; ++k) {
        const float zk = zr[g0 + k];
        v[size_t(k)] = yr[g0 + k] * (zk / (1.0f + std::exp(-zk)));
        ss += v[size_t(k)] * v[size_t(k)];
      }
      const float inv = 1.0f / std::sqrt(ss / float(gs) + eps);
      for (int64_t k = 0; k < gs; ++k) o[g0 + k] = wp[g0 + k] * (v[size_t(k)] * inv);
    }
  }
}

void rms_norm_gated(CpuTier tier, const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                    float eps, const Tensor& out) {
  if (runs_avx2(tier)) return rms_norm_gated_avx2(y, z, w, group_size, eps, out);
  rms_norm_gated_ref(y, z, w, group_size, eps, out);
}

}  // namespace kllens::cpu
