// attention, reference tier and dispatcher (formula in attention.h). Per query and head:
// the scores of its visible keys in one [≤ i+1] array (fp32 dot products in order,
// times scale), max-subtracted softmax, then the weighted sum of V divided by the sum
// of the weights (fp32), as torch's math attention evaluates it.
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void attention_ref(const AttentionArgs& a) {
  const int64_t T = a.seqlen, nh = a.heads, hd = a.head_dim, vhd = a.v_head_dim;
  const int64_t cap = a.k_cache.shape[1], g = nh / a.kv_heads;
  std::vector<float> s;  // [visible keys] scores of one query
  std::vector<int64_t> slots;
  std::vector<float> acc(static_cast<size_t>(vhd));
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t r = b * T + t, i = a.past + t;
      const KeyRanges kr = key_ranges(a, i);
      slots.clear();
      for (int64_t j = 0; j < kr.lo_end; ++j) slots.push_back(kv_slot(a, cap, j));
      for (int64_t j = kr.hi_begin; j <= i; ++j) slots.push_back(kv_slot(a, cap, j));
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t kvh = h / g;
        const float* q = a.q.data<float>() + r * a.q.row_stride + h * hd;
        s.assign(slots.size(), 0.0f);
        float m = -INFINITY;
        for (size_t e = 0; e < slots.size(); ++e) {
          const float* k =
              a.k_cache.data<float>() + (b * cap + slots[e]) * a.k_cache.row_stride + kvh * hd;
          float d = 0.0f;
          for (int64_t c = 0; c < hd; ++c) d += q[c] * k[c];
          s[e] = d * a.scale;
          m = std::max(m, s[e]);
        }
        float den = 0.0f;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (size_t e = 0; e < slots.size(); ++e) {
          const float p = std::exp(s[e] - m);
          den += p;
          const float* v =
              a.v_cache.data<float>() + (b * cap + slots[e]) * a.v_cache.row_stride + kvh * vhd;
          for (int64_t c = 0; c < vhd; ++c) acc[size_t(c)] += p * v[c];
        }
        float* o = a.out.data<float>() + r * a.out.row_stride + h * vhd;
        for (int64_t c = 0; c < vhd; ++c) o[c] = acc[size_t(c)] / den;
      }
    }
}

void attention(CpuTier tier, const AttentionArgs& a) {
  if (runs_avx2(tier)) return attention_avx2(a);
  attention_ref(a);
}

}  // namespace kllens::cpu
