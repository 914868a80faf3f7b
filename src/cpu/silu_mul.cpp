// silu_mul, reference tier and dispatcher (formula in silu_mul.h).
#include "cpu/silu_mul.h"

#include <cmath>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void silu_mul_ref(const Tensor& gate, const Tensor& up, const Tensor& out) {
  const int64_t n = gate.rows(), F = gate.cols();
  for (int64_t r = 0; r < n; ++r) {
    const float* g = gate.data<float>() + r * gate.row_stride;
    const float* u = up.data<float>() + r * up.row_stride;
    float* o = out.data<float>() + r * out.row_stride;
    for (int64_t k = 0; k < F; ++k) o[k] = (g[k] / (1.0f + std::exp(-g[k]))) * u[k];
  }
}

void silu_mul(CpuTier tier, const Tensor& gate, const Tensor& up, const Tensor& out) {
  if (runs_avx2(tier)) return silu_mul_avx2(gate, up, out);
  silu_mul_ref(gate, up, out);
}

}  // namespace kllens::cpu
