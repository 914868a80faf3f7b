// The CPU backend's load-time layout of INT4 weights (Q4_0, Q4_C) for the fast GEMV
// (matmul_q8act, n < 4 rows): an in-memory detail of the CPU backend, made once when a
// weight is imported or quantised; files on disk and the other backends never see it.
//
// Rows are taken in groups of kPackRows = 8 (the last group padded with zero weights).
// Group g holds, for every 32-block b of K, 128 bytes: four 32-byte vectors p_t (t = 0..3)
// whose 32-bit lane r belongs to row 8g + r, byte i of that lane holding
//   low nibble  u[8g + r][32b + 4t + i]       high nibble  u[8g + r][32b + 16 + 4t + i]
// with u = w + 8 ∈ [0, 15] the offset integer weight (matmul_q8act.h step 2; slots past K
// hold u = 8, i.e. w = 0). Q4_0 groups then carry the rows' f16 block scales, 8 per block
// ([nb][8] × 2 bytes); Q4_C's per-row scale stays in Weight::scale.
//
// Why: one and (low nibbles) or shift + and (high) gives 32 unsigned lanes; vpmaddubsw
// against 4 activation codes broadcast to every lane sums each row's pairs, eight such
// int16 sums add without overflow (8 · 2 · 15 · 127 = 30480 < 2^15), one vpmaddwd makes
// each lane row r's Σ u·q over the block, and I_b = that − 8 · s_b (matmul_q8act.h). So
// every activation load and block scale serves 8 rows, and the 8 lanes are 8 outputs:
// each output's fp32 terms are summed in the reference's ascending block order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kllens/tensor.h"

namespace kllens::cpu {

inline constexpr int64_t kPackRows = 8;

struct PackedQ4 {
  DType type = DType::Q4_0;  // Q4_0 or Q4_C
  int64_t N = 0, K = 0, nb = 0, groups = 0;
  uint8_t* nibbles = nullptr;   // [groups][nb][128]   (owned, 64-byte aligned)
  uint16_t* scales = nullptr;   // [groups][nb][8] f16 (Q4_0; inside the same allocation)
  PackedQ4() = default;
  PackedQ4(const PackedQ4&) = delete;
  PackedQ4& operator=(const PackedQ4&) = delete;
  ~PackedQ4();
};

// Whether pack_q4 takes this weight type.
bool packable_q4(DType t);
// The packed copy of a stored [N, K] weight (rows row_bytes apart), rows split over the
// threads. Unpacks through the reference's own reading of each block.
std::unique_ptr<PackedQ4> pack_q4(DType t, const uint8_t* W, size_t row_bytes, int64_t N, int64_t K);

// out[n, N] = matmul_q8act(x, w) for n ∈ [1, 3] through the packed copy p of w.w (the
// same weight, same shape); scale and bias come from w.
void matmul_q8act_packed_avx2(const Tensor& x, const Weight& w, const PackedQ4& p, const Tensor& out);

}  // namespace kllens::cpu
