// argmax, reference tier and dispatcher: a strict-greater scan keeps the first maximum.
#include "cpu/argmax.h"

#include <cmath>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

int64_t argmax_row_ref(const float* z, int64_t V) {
  int64_t best = 0;
  float m = -INFINITY;
  for (int64_t v = 0; v < V; ++v)
    if (z[v] > m) m = z[v], best = v;
  return best;
}

void argmax_ref(const Tensor& logits, const Tensor& out) {
  const int64_t n = logits.rows(), V = logits.cols();
  for (int64_t r = 0; r < n; ++r)
    out.data<int32_t>()[r] = int32_t(argmax_row_ref(logits.data<float>() + r * logits.row_stride, V));
}

void argmax(CpuTier tier, const Tensor& logits, const Tensor& out) {
  if (runs_avx2(tier)) return argmax_avx2(logits, out);
  argmax_ref(logits, out);
}

}  // namespace kllens::cpu
