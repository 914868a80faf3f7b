// topk, AVX2 tier: one pass per row keeping the best k seen so far in a sorted list. Eight
// entries at a time are compared with the list's last (k-th) entry; only those that beat
// it (strictly greater: a later equal value ranks after it; any number beats a NaN) go
// through the scalar insertion, which applies the full order. On random logits that is
// O(k·log(V/k)) insertions, so the pass is bound by reading the row. Rows in parallel.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/topk.h"

namespace kllens::cpu {

void topk_row_avx2(const float* z, int64_t V, int64_t k, float* values, int32_t* indices) {
  struct Entry { float v; int64_t i; };
  std::vector<Entry> best;  // sorted in the order, at most k
  best.reserve(size_t(k) + 1);
  auto offer = [&](int64_t i) {
    const float x = z[i];
    if (int64_t(best.size()) == k && !topk_before(x, i, best.back().v, best.back().i)) return;
    auto at = std::upper_bound(best.begin(), best.end(), Entry{x, i}, [](const Entry& a, const Entry& b) {
      return topk_before(a.v, a.i, b.v, b.i);
    });
    best.insert(at, Entry{x, i});
    if (int64_t(best.size()) > k) best.pop_back();
  };
  int64_t v = 0;
  for (; v < V && int64_t(best.size()) < k; ++v) offer(v);
  for (; v + 8 <= V; v += 8) {
    const Entry& last = best.back();
    const __m256 x = _mm256_loadu_ps(z + v);
    // Ordered compares are false for a NaN x, which never beats an earlier entry.
    const __m256 beats = std::isnan(last.v) ? _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_GE_OQ)
                                            : _mm256_cmp_ps(x, _mm256_set1_ps(last.v), _CMP_GT_OQ);
    int mask = _mm256_movemask_ps(beats);
    while (mask) {  // offer() re-checks: the k-th entry may have risen within these eight
      const int b = __builtin_ctz(unsigned(mask));
      offer(v + b);
      mask &= mask - 1;
    }
  }
  for (; v < V; ++v) offer(v);
  for (int64_t j = 0; j < k; ++j) values[j] = best[size_t(j)].v, indices[j] = int32_t(best[size_t(j)].i);
}

void topk_avx2(const Tensor& logits, const Tensor& values, const Tensor& indices) {
  const int64_t n = logits.rows(), V = logits.cols(), k = values.cols();
  const float* lp = logits.data<float>();
  float* vp = values.data<float>();
  int32_t* ip = indices.data<int32_t>();
  const int64_t ls = logits.row_stride;
#pragma omp parallel for schedule(static) if (n * V > (1 << 16))
  for (int64_t r = 0; r < n; ++r) topk_row_avx2(lp + r * ls, V, k, vp + r * k, ip + r * k);
}

}  // namespace kllens::cpu
