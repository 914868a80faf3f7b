// add, reference tier and dispatcher.   out[r, c] = a[r, c] + b[r, c]     all [n, C]
#include "cpu/add.h"

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void add_ref(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = a.rows(), C = a.cols();
  for (int64_t r = 0; r < n; ++r) {
    const float* x = a.data<float>() + r * a.row_stride;
    const float* y = b.data<float>() + r * b.row_stride;
    float* o = out.data<float>() + r * out.row_stride;
    for (int64_t c = 0; c < C; ++c) o[c] = x[c] + y[c];
  }
}

void add(CpuTier tier, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (runs_avx2(tier)) return add_avx2(a, b, out);
  add_ref(a, b, out);
}

}  // namespace kllens::cpu
