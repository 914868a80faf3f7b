// topk, reference tier and dispatcher: k rounds of selection; round j takes the best
// entry that comes after round j−1's pick in the order (so ties and NaN need no special
// bookkeeping). O(k·V): plain, not fast.
#include "cpu/topk.h"

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void topk_row_avx2(const float* z, int64_t V, int64_t k, float* values, int32_t* indices);

namespace {

void topk_row_ref(const float* z, int64_t V, int64_t k, float* values, int32_t* indices) {
  int64_t prev = -1;
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1;
    for (int64_t v = 0; v < V; ++v) {
      if (prev >= 0 && !topk_before(z[prev], prev, z[v], v)) continue;  // taken already
      if (best < 0 || topk_before(z[v], v, z[best], best)) best = v;
    }
    values[j] = z[best];
    indices[j] = int32_t(best);
    prev = best;
  }
}

}  // namespace

void topk_ref(const Tensor& logits, const Tensor& values, const Tensor& indices) {
  const int64_t n = logits.rows(), V = logits.cols(), k = values.cols();
  for (int64_t r = 0; r < n; ++r)
    topk_row_ref(logits.data<float>() + r * logits.row_stride, V, k,  // [V]
                 values.data<float>() + r * k, indices.data<int32_t>() + r * k);  // [k]
}

void topk(CpuTier tier, const Tensor& logits, const Tensor& values, const Tensor& indices) {
  if (runs_avx2(tier)) return topk_avx2(logits, values, indices);
  topk_ref(logits, values, indices);
}

void topk_row(CpuTier tier, const float* z, int64_t V, int64_t k, float* values, int32_t* indices) {
  if (runs_avx2(tier)) return topk_row_avx2(z, V, k, values, indices);
  topk_row_ref(z, V, k, values, indices);
}

}  // namespace kllens::cpu
