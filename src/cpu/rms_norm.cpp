// rms_norm / add_rms_norm, reference tier and dispatchers.
//   out[r,k] = w[k] · (x[r,k] · 1/sqrt(Σ_k x[r,k]² / H + eps))
// in torch's order: normalise in fp32, then multiply by the weight.
// x, residual, delta, out [n, H] (strided rows), w [H]. Sums: plain fp32, in order.
#include "cpu/rms_norm.h"

#include <cmath>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

namespace {
void norm_row(const float* x, const float* w, float eps, int64_t H, float* out) {
  float ss = 0.0f;
  for (int64_t k = 0; k < H; ++k) ss += x[k] * x[k];
  const float inv = 1.0f / std::sqrt(ss / float(H) + eps);
  for (int64_t k = 0; k < H; ++k) out[k] = w[k] * (x[k] * inv);
}
}  // namespace

void rms_norm_ref(const Tensor& x, const Tensor& w, float eps, const Tensor& out) {
  const int64_t n = x.rows(), H = x.cols();
  for (int64_t r = 0; r < n; ++r)
    norm_row(x.data<float>() + r * x.row_stride, w.data<float>(), eps, H,
             out.data<float>() + r * out.row_stride);
}

void add_rms_norm_ref(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                      const Tensor& out) {
  const int64_t n = residual.rows(), H = residual.cols();
  for (int64_t r = 0; r < n; ++r) {
    float* res = residual.data<float>() + r * residual.row_stride;
    const float* d = delta.data<float>() + r * delta.row_stride;
    for (int64_t k = 0; k < H; ++k) res[k] += d[k];
    norm_row(res, w.data<float>(), eps, H, out.data<float>() + r * out.row_stride);
  }
}

void rms_norm(CpuTier tier, const Tensor& x, const Tensor& w, float eps, const Tensor& out) {
  if (runs_avx2(tier)) return rms_norm_avx2(x, w, eps, out);
  rms_norm_ref(x, w, eps, out);
}

void add_rms_norm(CpuTier tier, const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                  const Tensor& out) {
  if (runs_avx2(tier)) return add_rms_norm_avx2(residual, delta, w, eps, out);
  add_rms_norm_ref(residual, delta, w, eps, out);
}

}  // namespace kllens::cpu
