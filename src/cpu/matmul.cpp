// matmul, reference tier and dispatcher.
//   out[r, j] = Σ_k x[r, k] · W[j, k] + bias[j]
// x [n, K] (row stride x.row_stride), W [N, K] stored as w.w.dtype (row j at
// j · row_bytes), scale [N] (Q8_C / Q4_C), bias [N], out [n, N] (row stride
// out.row_stride). Each W row is dequantised to F32 exactly as dequant_row defines it,
// then dotted with x in fp32, summed in order of k, bias added last.
#include "cpu/matmul.h"

#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/dequant.h"

namespace kllens::cpu {

void matmul_ref(const Tensor& x, const Weight& w, const Tensor& out) {
  const int64_t n = x.rows(), K = x.cols(), N = w.out_features();
  const auto* W = w.w.data<uint8_t>();
  const float* scale = w.scale.empty() ? nullptr : w.scale.data<float>();
  const float* bias = w.bias.empty() ? nullptr : w.bias.data<float>();
  std::vector<float> wrow(static_cast<size_t>(K));  // [K] row j of W in F32
  for (int64_t j = 0; j < N; ++j) {
    dequant_row(w.w.dtype, W + size_t(j) * w.w.row_bytes(), K, scale ? scale[j] : 1.0f,
                wrow.data());
    for (int64_t r = 0; r < n; ++r) {
      const float* xr = x.data<float>() + r * x.row_stride;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += xr[k] * wrow[size_t(k)];
      if (bias) acc += bias[j];
      out.data<float>()[r * out.row_stride + j] = acc;
    }
  }
}

void matmul(CpuTier tier, const Tensor& x, const Weight& w, const Tensor& out) {
  if (runs_avx2(tier)) return matmul_avx2(x, w, out);
  matmul_ref(x, w, out);
}

}  // namespace kllens::cpu
