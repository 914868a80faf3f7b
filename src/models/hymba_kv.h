// Hymba's KV caches: per own-K/V layer, post-RoPE keys and values of every sequence in
// the slot layout of AttentionArgs (backend.h): absolute position j < M (meta) in slot j,
// a real position in slot M + (j − M) mod (capacity − M).
//
// A global layer's cache (also a producer whose consumer attends globally) holds every
// position: capacity ≥ positions, the identity layout, grown by doubling. A sliding-
// window layer keeps a ring of R = capacity − M real slots: a call with S new rows needs
// R ≥ min(real positions, W + S) (the window of its first query plus its own rows), so a
// decode step needs M + W + 1 slots and a long prefill holds its own tokens (memory
// linear in the prompt, never T × T). Growing moves the live positions to their new slots.
#pragma once

#include <cstdint>
#include <vector>

#include "kllens/backend.h"

namespace kllens {

struct KvCache {
  Tensor k, v;  // F32 [B, capacity, nkv·hd] / [B, capacity, nkv·vhd]; empty before first use
  int64_t capacity = 0;
  bool window = false;  // ring layout allowed (sliding-window layer and consumers)
};

// Makes `c` able to take S new rows per sequence at absolute positions [past, past + S)
// with window W and M meta positions, keeping every stored position the window still needs.
void kv_reserve(Backend& be, KvCache& c, int64_t batch, int64_t kv_cols, int64_t v_cols,
                int64_t meta, int64_t window, int64_t past, int64_t S);

// Writes rows [b·S, b·S + S) of k and v (post-RoPE, may be strided) into their slots.
void kv_write(Backend& be, const KvCache& c, const Tensor& k, const Tensor& v, int64_t batch,
              int64_t meta, int64_t past, int64_t S);

}  // namespace kllens
