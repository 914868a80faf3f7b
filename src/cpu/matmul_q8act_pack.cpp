// pack_weight: the load-time layout of matmul_q8act_pack.h, built from the reference's
// reading of each block (q8act_weight_block), so the packed weights are the reference's.
#include "cpu/matmul_q8act_pack.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/matmul_q8act.h"

namespace kllens::cpu {

PackedWeight::~PackedWeight() { std::free(codes); }

bool packable(DType t) { return matmul_q8act_supports(t); }

std::unique_ptr<PackedWeight> pack_weight(DType t, const uint8_t* W, size_t row_bytes, int64_t N, int64_t K) {
  auto p = std::make_unique<PackedWeight>();
  p->type = t;
  p->N = N;
  p->K = K;
  p->nb = act_blocks(K);
  p->groups = (N + kPackRows - 1) / kPackRows;
  const bool q4 = t == DType::Q4_0 || t == DType::Q4_C, blocks = t == DType::Q4_0 || t == DType::Q8_0;
  const int64_t bb = p->block_bytes();
  const size_t nib_bytes = size_t(p->groups * p->nb * bb);
  const size_t scale_bytes = blocks ? size_t(p->groups * p->nb) * kPackRows * 2 : 0;
  const size_t total = (nib_bytes + scale_bytes + 63) / 64 * 64;
  p->codes = static_cast<uint8_t*>(std::aligned_alloc(64, total ? total : 64));
  if (!p->codes) throw std::bad_alloc();
  p->scales = scale_bytes ? reinterpret_cast<uint16_t*>(p->codes + nib_bytes) : nullptr;
  const int64_t nb = p->nb;
#pragma omp parallel for schedule(static) if (N * K > (1 << 16))
  for (int64_t g = 0; g < p->groups; ++g) {
    int32_t w[kActBlock];
    for (int64_t r = 0; r < kPackRows; ++r) {
      const int64_t j = g * kPackRows + r;
      for (int64_t b = 0; b < nb; ++b) {
        uint8_t* blk = p->codes + size_t((g * nb + b) * bb);
        uint16_t h = 0;  // f16 +0: a padding row's block scale
        if (j < N) {
          const uint8_t* row = W + size_t(j) * row_bytes;
          q8act_weight_block(t, row, K, b, w);
          if (blocks) std::memcpy(&h, row + b * (q4 ? 18 : 34), 2);  // the stored f16 bits
        } else {
          std::memset(w, 0, sizeof w);
        }
        if (q4) {
          for (int64_t tq = 0; tq < 4; ++tq)
            for (int64_t i = 0; i < 4; ++i) {
              const int lo = w[4 * tq + i] + 8, hi = w[16 + 4 * tq + i] + 8;
              blk[tq * 32 + r * 4 + i] = uint8_t(lo | (hi << 4));
            }
        } else {
          for (int64_t tq = 0; tq < 8; ++tq)
            for (int64_t i = 0; i < 4; ++i) blk[tq * 32 + r * 4 + i] = uint8_t(int8_t(w[4 * tq + i]));
        }
        if (p->scales) p->scales[size_t(g * nb + b) * kPackRows + size_t(r)] = h;
      }
    }
  }
  return p;
}

}  // namespace kllens::cpu
