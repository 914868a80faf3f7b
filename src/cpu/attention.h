// attention: causal grouped-query attention over a KV cache, with an optional sliding
// window and a prefix of always-visible (meta) positions (AttentionArgs in backend.h).
// Row r = b·T + t is the query at absolute position i = past + t; head h reads kv head
// h / (nh/nkv). Key position j is visible when
//   j ≤ i  and  (window == 0  or  i − j ≤ window  or  j < meta)
// i.e. j ∈ [0, min(meta, i+1)) ∪ [max(meta, i − window), i]  (window > 0), and sits in slot
//   j < meta ? j : meta + (j − meta) mod (capacity − meta).
//   out[r, h, :] = Σ_j softmax_j(scale · q[r,h,:]·K[j]) · V[j]
// q F32 [B·T, nh·hd] (strided rows), k_cache F32 [B, cap, nkv·hd],
// v_cache F32 [B, cap, nkv·vhd], out F32 [B·T, nh·vhd] (strided rows).
// Memory is linear in the sequence: no tier holds a T×T score matrix.
#pragma once

#include "kllens/backend.h"

namespace kllens::cpu {

void attention_ref(const AttentionArgs& a);
void attention_avx2(const AttentionArgs& a);
void attention(CpuTier tier, const AttentionArgs& a);

// The visible key positions of the query at absolute position i: [0, lo_end) ∪ [hi_begin, i].
struct KeyRanges { int64_t lo_end, hi_begin; };
inline KeyRanges key_ranges(const AttentionArgs& a, int64_t i) {
  if (a.window == 0) return {0, 0};
  const int64_t lo_end = a.meta < i + 1 ? a.meta : i + 1;
  int64_t hi_begin = i - a.window > a.meta ? i - a.window : a.meta;
  if (hi_begin < lo_end) hi_begin = lo_end;
  if (hi_begin > i + 1) hi_begin = i + 1;  // a meta query: no second range
  return {lo_end, hi_begin};
}
inline int64_t kv_slot(const AttentionArgs& a, int64_t capacity, int64_t j) {
  return j < a.meta ? j : a.meta + (j - a.meta) % (capacity - a.meta);
}

}  // namespace kllens::cpu
