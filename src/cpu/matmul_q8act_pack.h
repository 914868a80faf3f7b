// The CPU backend's load-time layout of integer weights (Q4_0, Q4_C, Q8_0, Q8_C) for the fast
// matmul (matmul_q8act, GEMV and GEMM): an in-memory detail of the CPU backend, made once when a
// weight is imported or quantised; files on disk and the other backends never see it.
//
// Rows are taken in groups of kPackRows = 8 (the last group padded with zero weights).
// The integer weights w are matmul_q8act.h's step 2 (slots past K hold w = 0). For every
// 32-block b of K, group g holds 32-byte vectors whose 32-bit lane r belongs to row
// 8g + r:
//   INT4 (Q4_0, Q4_C): 128 bytes, four vectors p_t (t = 0..3), byte i of lane r holding
//     low nibble  u[8g + r][32b + 4t + i]     high nibble  u[8g + r][32b + 16 + 4t + i]
//     with u = w + 8 ∈ [0, 15];
//   INT8 (Q8_0, Q8_C): 256 bytes, eight vectors p_t (t = 0..7), byte i of lane r = the
//     int8 w[8g + r][32b + 4t + i].
// Block types (Q4_0, Q8_0) then carry the rows' f16 block scales, 8 per block
// ([groups][nb][8] × 2 bytes); the per-row types' scale stays in Weight::scale.
//
// Why: 4 activation codes broadcast to every lane meet a whole vector in one vpmaddubsw
// that sums each row's pairs. INT4: one and (low nibbles) or shift + and (high) gives 32
// unsigned lanes; eight int16 results add without overflow (8 · 2 · 15 · 127 = 30480 <
// 2^15), one vpmaddwd makes lane r row r's Σ u·q, and I_b = that − 8 · s_b. INT8: |w|
// times q with w's sign (vpsignb), each vpmaddwd'd to int32 (a pair reaches 32512, two
// would overflow int16), eight added. So every activation load and block scale serves 8
// rows, and the 8 lanes are 8 outputs: each output's fp32 terms are summed in the
// reference's ascending block order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kllens/tensor.h"

namespace kllens::cpu {

inline constexpr int64_t kPackRows = 8;

struct PackedWeight {
  DType type = DType::Q4_0;  // Q4_0, Q4_C, Q8_0 or Q8_C
  int64_t N = 0, K = 0, nb = 0, groups = 0;
  uint8_t* codes = nullptr;     // [groups][nb][block_bytes()] (owned, 64-byte aligned)
  uint16_t* scales = nullptr;   // [groups][nb][8] f16 (block types; inside the same allocation)
  int64_t block_bytes() const { return type == DType::Q4_0 || type == DType::Q4_C ? 128 : 256; }
  PackedWeight() = default;
  PackedWeight(const PackedWeight&) = delete;
  PackedWeight& operator=(const PackedWeight&) = delete;
  ~PackedWeight();
};

// Whether pack_weight takes this weight type.
bool packable(DType t);
// The packed copy of a stored [N, K] weight (rows row_bytes apart), rows split over the
// threads. Unpacks through the reference's own reading of each block.
std::unique_ptr<PackedWeight> pack_weight(DType t, const uint8_t* W, size_t row_bytes, int64_t N, int64_t K);

// What a tier's loop reads: the packed weight, w's per-row scale and bias, the output and
// x quantised by matmul_q8act.h's step 1 (codes q [n, nb·32], scales d and block sums s
// [n, nb], in the thread's scratch_act buffer).
struct PackArgs {
  const PackedWeight* p;
  const float* scale;  // [N] (Q4_C) or null
  const float* bias;   // [N] or null
  float* out; int64_t os;
  const int8_t* q; const float* d; const int32_t* s;
};
// Quantises x (the AVX2 step 1, which both tiers share) and fills the rest from w, p and out.
PackArgs packed_args(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out);

// out[n, N] = matmul_q8act(x, w) for any n ≥ 1 through the packed copy p of w.w (the same
// weight, same shape); scale and bias come from w. Both tiers are bitwise the reference;
// the AVX-512 one needs cpu_has_avx512vnni().
void matmul_q8act_packed_avx2(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out);
void matmul_q8act_packed_avx512(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out);

}  // namespace kllens::cpu
