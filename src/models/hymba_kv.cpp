// Hymba's KV caches (see hymba_kv.h): reservation with growth, and slot writes, as runs
// of consecutive slots so that each run is one backend copy per sequence.
#include "models/hymba_kv.h"

#include <algorithm>
#include <functional>

#include "kllens/error.h"

namespace kllens {

namespace {

int64_t slot(int64_t cap, int64_t meta, int64_t j) {
  return j < meta ? j : meta + (j - meta) % (cap - meta);
}

// Splits positions [j0, j1) into runs whose slots in both layouts are consecutive:
// fn(first position, first slot in a, first slot in b, length).
void for_runs(int64_t j0, int64_t j1, const std::function<int64_t(int64_t)>& sa,
              const std::function<int64_t(int64_t)>& sb,
              const std::function<void(int64_t, int64_t, int64_t, int64_t)>& fn) {
  int64_t j = j0;
  while (j < j1) {
    int64_t n = 1;
    while (j + n < j1 && sa(j + n) == sa(j) + n && sb(j + n) == sb(j) + n) ++n;
    fn(j, sa(j), sb(j), n);
    j += n;
  }
}

// Rows [s, s + n) of sequence b of a [B, cap, C] cache.
Tensor rows(const Tensor& t, int64_t b, int64_t s, int64_t n) {
  const int64_t cap = t.shape[1];
  return t.reshape({t.shape[0] * cap, t.shape[2]}).slice_rows(b * cap + s, n);
}

}  // namespace

void kv_reserve(Backend& be, KvCache& c, int64_t batch, int64_t kv_cols, int64_t v_cols,
                int64_t meta, int64_t window, int64_t past, int64_t S) {
  const int64_t end = past + S;  // positions after this call
  int64_t need = end;            // identity layout
  if (c.window && window > 0) need = std::min(end, meta + window + S);
  if (need <= c.capacity) return;
  // Doubling for the identity part; a ring never needs more than meta + window + S.
  int64_t cap = std::max(need, 2 * c.capacity);
  if (c.window && window > 0) cap = std::min(cap, std::max(need, meta + window + S));
  cap = std::max(cap, meta + 1);
  KvCache n;
  n.window = c.window;
  n.capacity = cap;
  n.k = be.alloc(DType::F32, {batch, cap, kv_cols});
  n.v = be.alloc(DType::F32, {batch, cap, v_cols});
  if (c.capacity > 0 && past > 0) {
    const int64_t oc = c.capacity, m = std::min(meta, past);
    // Real positions still stored in the old layout (all of them while it was the identity).
    const int64_t lo = std::max(meta, past - std::min(oc - meta, cap - meta));
    for (int64_t b = 0; b < batch; ++b) {
      if (m > 0) {
        be.copy(rows(c.k, b, 0, m), rows(n.k, b, 0, m));
        be.copy(rows(c.v, b, 0, m), rows(n.v, b, 0, m));
      }
      for_runs(lo, past, [&](int64_t j) { return slot(oc, meta, j); },
               [&](int64_t j) { return slot(cap, meta, j); },
               [&](int64_t, int64_t so, int64_t sn, int64_t len) {
                 be.copy(rows(c.k, b, so, len), rows(n.k, b, sn, len));
                 be.copy(rows(c.v, b, so, len), rows(n.v, b, sn, len));
               });
    }
  }
  c = std::move(n);
}

void kv_write(Backend& be, const KvCache& c, const Tensor& k, const Tensor& v, int64_t batch,
              int64_t meta, int64_t past, int64_t S) {
  KL_CHECK(c.capacity > 0, "KV cache used before kv_reserve");
  for (int64_t b = 0; b < batch; ++b)
    for_runs(past, past + S, [&](int64_t j) { return j - past; },
             [&](int64_t j) { return slot(c.capacity, meta, j); },
             [&](int64_t, int64_t t, int64_t s, int64_t len) {
               be.copy(k.slice_rows(b * S + t, len), rows(c.k, b, s, len));
               be.copy(v.slice_rows(b * S + t, len), rows(c.v, b, s, len));
             });
}

}  // namespace kllens
