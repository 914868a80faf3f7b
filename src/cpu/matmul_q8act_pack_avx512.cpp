// matmul_q8act on packed weights (matmul_q8act_pack.h), AVX-512 VNNI tier: the AVX2 tier's
// loop (a group of 8 rows against every row of x, 4 at a time) with 512-bit vectors and
// vpdpbusd, on the same packed layout.
//
// One zmm load takes two of a block's 32-byte vectors, p_2k and p_2k+1: lanes 0–7 hold
// rows 8g..8g+7 for activation codes x[4·2k ..], lanes 8–15 the same rows for
// x[4·(2k+1) ..]. So the activation vector A_k has x's dword 2k broadcast to its low half
// and dword 2k+1 to its high half (one vpermd of the block's 32 codes), and one vpdpbusd
// (u8 weights × s8 codes, four products summed into each int32 lane) does the work of two
// vpmaddubsw + vpmaddwd + adds of the AVX2 tier. After the block, the two halves added
// give I_b of the 8 rows, exactly (integer sums).
//   INT4: the unsigned nibbles u = w + 8; the accumulator starts at −4·s_b in both halves,
//     so the halves' sum is Σ u·q − 8·s_b = I_b.
//   INT8: u = w xor 0x80 = w + 128 as an unsigned byte (AVX-512 has no vpsignb); the
//     accumulator starts at −64·s_b per half, so the sum is Σ (w + 128)·q − 128·s_b = I_b.
// Then the shared loop (matmul_q8act_pack_loop.h) applies the reference's step 3 in ymm:
// bitwise the reference, as the AVX2 tier.
#include <immintrin.h>

#include "cpu/matmul_q8act.h"
#include "cpu/matmul_q8act_pack.h"
#include "cpu/matmul_q8act_pack_loop.h"

namespace kllens::cpu {

namespace {

// A_0..A_3 of one block of x codes: dwords (2k, 2k + 1) to the (low, high) halves.
inline void act_pairs(const int8_t* xq, __m512i* A) {
  const __m512i x = _mm512_maskz_loadu_epi32(0x00ff, xq);
  for (int k = 0; k < 4; ++k) {
    const __m512i idx = _mm512_set_epi32(2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k);
    A[k] = _mm512_permutexvar_epi32(idx, x);
  }
}

// The block's weight vectors W[0..4) as unsigned bytes, W[k] pairing p_2k | p_2k+1 of the
// same codes (INT4: low nibbles for k = 0, 1 — codes 0..15 — and high nibbles for k = 2,
// 3 — codes 16..31); lane r of sums() = I_b of row 8g + r against x codes xq with block
// sum s, the accumulator starting at −4·s (INT4) or −64·s (INT8) per half.
template <bool kQ4>
struct Avx512Block {
  __m512i W[4];
  explicit Avx512Block(const uint8_t* codes) {
    const auto* blk = reinterpret_cast<const __m512i*>(codes);
    if constexpr (kQ4) {
      const __m512i m4 = _mm512_set1_epi8(0x0f);
      for (int h = 0; h < 2; ++h) {
        const __m512i v = _mm512_load_si512(blk + h);
        W[h] = _mm512_and_si512(v, m4);
        W[2 + h] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
    } else {
      const __m512i flip = _mm512_set1_epi8(int8_t(0x80));
      for (int k = 0; k < 4; ++k) W[k] = _mm512_xor_si512(_mm512_load_si512(blk + k), flip);
    }
  }
  __m256i sums(const int8_t* xq, int32_t s) const {
    __m512i A[4];
    act_pairs(xq, A);
    __m512i I = _mm512_set1_epi32((kQ4 ? -4 : -64) * s);
    for (int k = 0; k < 4; ++k) I = _mm512_dpbusd_epi32(I, W[k], A[k]);
    return _mm256_add_epi32(_mm512_castsi512_si256(I), _mm512_extracti64x4_epi64(I, 1));
  }
};

}  // namespace

void matmul_q8act_packed_avx512(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out) {
  packed_matmul<Avx512Block>(packed_args(x, w, p, out), x.rows());
}

}  // namespace kllens::cpu
