// matmul_q8act on packed weights (matmul_q8act_pack.h), AVX2 tier: the decode GEMV and the
// prefill GEMM are one loop (a group of 8 rows against every row of x, 4 at a time).
//
// Per group of 8 rows and block b, INT4: four 32-byte loads give eight vectors of
// unsigned nibbles (and / shift + and); each meets 4 activation codes broadcast to all
// lanes in one vpmaddubsw; the eight int16 results add exactly (see the header), one
// vpmaddwd gives lane r = Σ u·q of row 8g + r, minus 8 · s_b = I_b. INT8: eight loads,
// each |w| · (q with w's sign) in vpmaddubsw, vpmaddwd to int32, added: I_b. Then, per
// lane, the shared loop (matmul_q8act_pack_loop.h) applies exactly the reference's step 3.
#include <immintrin.h>

#include <cstring>

#include "cpu/matmul_q8act.h"
#include "cpu/matmul_q8act_pack.h"
#include "cpu/matmul_q8act_pack_loop.h"

namespace kllens::cpu {

namespace {

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <bool kQ4>
struct Avx2Block;

// INT4: the eight unpacked nibble vectors w[0..8) (low nibbles of p_0..p_3, then high
// ones); lane r of sums() = I_b of row 8g + r against x codes xq with block sum s.
template <>
struct Avx2Block<true> {
  __m256i w[8];
  explicit Avx2Block(const uint8_t* codes) {
    const auto* blk = reinterpret_cast<const __m256i*>(codes);
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int t = 0; t < 4; ++t) {
      const __m256i v = _mm256_load_si256(blk + t);
      w[t] = _mm256_and_si256(v, m4);
      w[4 + t] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
  }
  __m256i sums(const int8_t* xq, int32_t s) const {
    __m256i s16 = _mm256_maddubs_epi16(w[0], bcast4(xq));
    for (int t = 1; t < 4; ++t) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(w[t], bcast4(xq + 4 * t)));
    for (int t = 0; t < 4; ++t) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(w[4 + t], bcast4(xq + 16 + 4 * t)));
    return _mm256_sub_epi32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)), _mm256_set1_epi32(8 * s));
  }
};

// INT8: the eight signed vectors w[t] and their magnitudes aw[t].
template <>
struct Avx2Block<false> {
  __m256i w[8], aw[8];
  explicit Avx2Block(const uint8_t* codes) {
    const auto* blk = reinterpret_cast<const __m256i*>(codes);
    for (int t = 0; t < 8; ++t) {
      w[t] = _mm256_load_si256(blk + t);
      aw[t] = _mm256_sign_epi8(w[t], w[t]);
    }
  }
  __m256i sums(const int8_t* xq, int32_t /*s: Σ w·q needs no offset*/) const {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i I = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[0], _mm256_sign_epi8(bcast4(xq), w[0])), ones);
    for (int t = 1; t < 8; ++t)
      I = _mm256_add_epi32(I, _mm256_madd_epi16(_mm256_maddubs_epi16(aw[t], _mm256_sign_epi8(bcast4(xq + 4 * t), w[t])), ones));
    return I;
  }
};

}  // namespace

void matmul_q8act_packed_avx2(const Tensor& x, const Weight& w, const PackedWeight& p, const Tensor& out) {
  packed_matmul<Avx2Block>(packed_args(x, w, p, out), x.rows());
}

}  // namespace kllens::cpu
