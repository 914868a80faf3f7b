// rope: rotary position embedding in place, NeoX "rotate_half" form (specs/hymba.md §4.3).
// Row r = b·T + t is at position pos = past + t; per head, for k < hd/2:
//   ang = float(pos) · inv_freq[k]                (one fp32 product, as torch's matmul)
//   c = cos(ang), s = sin(ang)                    (fp32)
//   x[k]        ← x[k] · c − x[k + hd/2] · s
//   x[k + hd/2] ← x[k + hd/2] · c + x[k] · s
// x F32 [B·T, heads·hd] (rows may be strided), inv_freq F32 [hd/2].
#pragma once

#include "kllens/backend.h"
#include "kllens/tensor.h"

namespace kllens::cpu {

void rope_ref(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
              int64_t past, int64_t heads, int64_t head_dim);
void rope_avx2(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
               int64_t past, int64_t heads, int64_t head_dim);
void rope(CpuTier tier, const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen, int64_t past,
          int64_t heads, int64_t head_dim);

// cos/sin of row position `pos` for k < half into cs[0..half) and cs[half..2·half) (libm
// in fp32; shared by both tiers so they agree bit for bit).
void rope_angles(const float* inv_freq, int64_t pos, int64_t half, float* cs);

}  // namespace kllens::cpu
