// pack_weight: the load-time layout of matmul_q8act_pack.h, built from the reference's
// reading of each block (q8act_weight_block), so the packed weights are the reference's.
#include "cpu/matmul_q8act_pack.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/cpu_features.h"
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

PackArgs packed_args(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out) {
  const int64_t n = x.rows(), K = p.K, nb = p.nb;
  const size_t row_q = size_t(nb * kActBlock);
  auto* mem = static_cast<uint8_t*>(scratch_act(size_t(n) * (row_q + 8 * size_t(nb))));
  auto* q = reinterpret_cast<int8_t*>(mem);
  auto* d = reinterpret_cast<float*>(mem + size_t(n) * row_q);
  auto* s = reinterpret_cast<int32_t*>(d + n * nb);
#pragma omp parallel for schedule(static) if (n * K >= (int64_t(1) << 16))  // as matmul_q8act_avx2.cpp
  for (int64_t r = 0; r < n; ++r)
    quantize_act_q8_avx2(x.data<float>() + r * x.row_stride, K, q + size_t(r) * row_q, d + r * nb, s + r * nb);
  PackArgs a;
  a.p = &p;
  a.scale = w.scale.empty() ? nullptr : w.scale.data<float>();
  a.bias = w.bias.empty() ? nullptr : w.bias.data<float>();
  a.out = out.data<float>();
  a.os = out.row_stride;
  a.q = q;
  a.d = d;
  a.s = s;
  return a;
}

}  // namespace kllens::cpu
