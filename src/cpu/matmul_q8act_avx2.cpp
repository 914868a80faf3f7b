// matmul_q8act, AVX2 tier (the arithmetic is defined in matmul_q8act.h).
//
// Integer block products with vpmaddubsw / vpmaddwd: maddubs multiplies unsigned by
// signed bytes, so
//   Q8_C / Q8_0: |w| · (x with w's sign)           (vpsignb twice; |w| ≤ 128 fits a u8)
//   Q4_C / Q4_0: u · x with u = w + 8 ∈ [0, 15], then − 8 · s_b (the block sum)
// Pairs of products fit int16 (≤ 2 · 128 · 127 = 32512), so the int32 block sums are
// exact. Each block's sum (8 int32 lanes) is converted to fp32 and multiplied by its
// block scale into an 8-lane fp32 accumulator, summed horizontally at the end: the
// reference's ascending-order sum in another order (matmul_q8act.h's NMSE bound).
//
// GEMV (n < kGemmMinRows, decode): x quantised once (Q4_C: each block's codes stored as
// even elements then odd ones, matching the nibble order of a Q4_C byte run, so the
// weights unpack like Q4_0's), W rows split statically over the threads, each row
// streamed once and dotted with every x row, two blocks per step into two accumulators.
// GEMM (prefill): the whole activation panel is quantised once (rows split over the
// threads), then tasks of (16 W rows, a chunk of x rows) unpack their W rows once to
// signed int8 with per-block fp32 scales and run 4 × 2 register tiles (4 x rows, 2 W
// rows) over every block.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "cpu/cpu_features.h"
#include "cpu/matmul_q8act.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {

constexpr int64_t kGemmMinRows = 4;
constexpr int64_t kParallelMinMacs = int64_t(1) << 18;  // as matmul_avx2.cpp

constexpr bool is_q4(DType t) { return t == DType::Q4_C || t == DType::Q4_0; }
constexpr bool per_row(DType t) { return t == DType::Q8_C || t == DType::Q4_C; }

// ---- activations -------------------------------------------------------------------------

// One block of 32 floats (zero-padded) → 32 codes; returns d, *sum = Σ codes.
inline float quantize_block(const float* x, int8_t* q, int32_t* sum) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m256 idv = _mm256_set1_ps(id);
  __m256i c[4];
  for (int i = 0; i < 4; ++i) {
    __m256 r = _mm256_round_ps(_mm256_mul_ps(v[i], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_max_ps(_mm256_min_ps(r, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-127.0f));
    c[i] = _mm256_cvtps_epi32(r);
  }
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3]));
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
  *sum = _mm_cvtsi128_si32(s4);
  // packs work within 128-bit lanes: [c0 c1 | c2 c3] → bytes in order 0-3,8-11,4-7,12-15 (×4)
  const __m256i p16a = _mm256_packs_epi32(c[0], c[1]), p16b = _mm256_packs_epi32(c[2], c[3]);
  const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
  const __m256i ordered = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), ordered);
  return d;
}

// Q4_C order inside a block: even elements, then odd ones.
inline void to_even_odd(int8_t* q) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256i sh = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8,
                          10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_permute4x64_epi64(sh, 0xd8));
}

void quantize_row(const float* x, int64_t K, int8_t* q, float* d, int32_t* s, bool even_odd) {
  const int64_t full = K / kActBlock, nb = act_blocks(K);
  for (int64_t b = 0; b < full; ++b) d[b] = quantize_block(x + b * kActBlock, q + b * kActBlock, &s[b]);
  if (nb > full) {
    alignas(32) float tail[kActBlock] = {};
    std::memcpy(tail, x + full * kActBlock, size_t(K - full * kActBlock) * 4);
    d[full] = quantize_block(tail, q + full * kActBlock, &s[full]);
  }
  if (even_odd)
    for (int64_t b = 0; b < nb; ++b) to_even_odd(q + b * kActBlock);
}

// ---- integer block products -------------------------------------------------------------

// Σ of the 8 int32 lanes of maddubs(a, b) pairs, as 8 int32 lanes (vpmaddwd with ones).
inline __m256i pair_sums(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Lane sums = I_b for signed weights w and codes x.
inline __m256i dot_s8(__m256i w, __m256i x) {
  return pair_sums(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

// Lane sums = I_b for offset nibbles u = w + 8 and codes x with block sum s: the 8 lanes
// of s (a broadcast load) subtract 8 · s in all.
inline __m256i dot_u4(__m256i u, __m256i x, const int32_t* s) {
  return _mm256_sub_epi32(pair_sums(u, x), _mm256_set1_epi32(*s));
}

// 16 bytes of nibbles → 32 bytes: low nibbles first, then high ones.
inline __m256i unpack_nibbles(__m128i b) {
  const __m128i m = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

// ---- GEMV ---------------------------------------------------------------------------------

struct Args {
  const float* x; int64_t xs;     // [n, K]
  const uint8_t* W; size_t wrb;   // [N, K] stored rows
  const float* scale;             // [N] or null
  const float* bias;              // [N] or null
  float* out; int64_t os;         // [n, N]
  int64_t n, N, K, nb;
  DType type;
  const int8_t* q; const float* d; const int32_t* s;  // quantised x: [n, nb·32], [n, nb], [n, nb]
};

// Block b of a stored row as 32 bytes: Q8 types signed codes, Q4 types u = w + 8 (Q4_C in
// even/odd order). Block types: *e = the f16 block scale's raw bits.
template <DType T>
inline __m256i load_block(const uint8_t* row, int64_t b, int64_t K, uint16_t* e) {
  if constexpr (T == DType::Q8_0) {
    std::memcpy(e, row + b * 34, 2);
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * 34 + 2));
  } else if constexpr (T == DType::Q4_0) {
    std::memcpy(e, row + b * 18, 2);
    return unpack_nibbles(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + b * 18 + 2)));
  } else {
    *e = 0x3c00;  // 1.0
    constexpr int64_t bytes = T == DType::Q8_C ? 32 : 16;  // per block of 32
    const uint8_t* p = row + b * bytes;
    alignas(32) uint8_t tmp[32];
    if ((b + 1) * kActBlock > K) {  // the shorter last block: the row ends inside it
      const int64_t have = T == DType::Q8_C ? K - b * kActBlock : (K - b * kActBlock + 1) / 2;
      std::memset(tmp, 0, 32);
      std::memcpy(tmp, p, size_t(have));
      p = tmp;
    }
    if constexpr (T == DType::Q8_C) {
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    } else {  // signed nibble ^ 8 = w + 8
      const __m128i b16 = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)),
                                        _mm_set1_epi8(char(0x88)));
      return unpack_nibbles(b16);
    }
  }
}

// acc += I_b · scale of block b of one W row against x row r (rb = r · nb + b).
template <DType T>
inline __m256 block_term(const Args& a, __m256i w, uint16_t e, int64_t rb, __m256 acc) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + rb * kActBlock));
  __m256i m;
  if constexpr (is_q4(T)) m = dot_u4(w, x, a.s + rb);
  else m = dot_s8(w, x);
  __m256 c = _mm256_broadcast_ss(a.d + rb);
  if constexpr (!per_row(T)) c = _mm256_mul_ps(c, _mm256_cvtph_ps(_mm_set1_epi16(short(e))));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), c, acc);
}

// Two accumulators per x row (even and odd blocks) keep two FMA chains in flight.
template <DType T, int NX>
void gemv(const Args& a) {
#pragma omp parallel for schedule(static) if (a.N * a.K * NX >= kParallelMinMacs)
  for (int64_t j = 0; j < a.N; ++j) {
    const uint8_t* row = a.W + size_t(j) * a.wrb;
    __m256 acc0[NX], acc1[NX];
    for (int r = 0; r < NX; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= a.nb; b += 2) {
      uint16_t e0, e1;
      const __m256i w0 = load_block<T>(row, b, a.K, &e0);
      const __m256i w1 = load_block<T>(row, b + 1, a.K, &e1);
      for (int r = 0; r < NX; ++r) {
        acc0[r] = block_term<T>(a, w0, e0, r * a.nb + b, acc0[r]);
        acc1[r] = block_term<T>(a, w1, e1, r * a.nb + b + 1, acc1[r]);
      }
    }
    if (b < a.nb) {
      uint16_t e0;
      const __m256i w0 = load_block<T>(row, b, a.K, &e0);
      for (int r = 0; r < NX; ++r) acc0[r] = block_term<T>(a, w0, e0, r * a.nb + b, acc0[r]);
    }
    for (int r = 0; r < NX; ++r) {
      float v = avx2::hsum8(_mm256_add_ps(acc0[r], acc1[r]));
      if (per_row(T)) v *= a.scale[j];
      if (a.bias) v += a.bias[j];
      a.out[r * a.os + j] = v;
    }
  }
}

template <DType T>
void gemv(const Args& a) {
  switch (a.n) {
    case 1: return gemv<T, 1>(a);
    case 2: return gemv<T, 2>(a);
    default: return gemv<T, 3>(a);
  }
}

// ---- GEMM ---------------------------------------------------------------------------------

constexpr int64_t kNR = 16;  // W rows per task panel
constexpr int64_t kMR = 4;   // x rows per register tile
constexpr int64_t kNJ = 2;   // W rows per register tile

// Row j of W as signed int8 codes [nb·32] (natural order, slots past K zero) and block
// scales e[nb] (1 for the per-row types).
template <DType T>
void unpack_row(const Args& a, int64_t j, int8_t* wq, float* e) {
  const uint8_t* row = a.W + size_t(j) * a.wrb;
  for (int64_t b = 0; b < a.nb; ++b) {
    __m256i w;
    if constexpr (T == DType::Q4_C) {  // natural order: interleave low and high nibbles
      const uint8_t* p = row + b * 16;
      alignas(16) uint8_t tmp[16];
      if ((b + 1) * kActBlock > a.K) {
        std::memset(tmp, 0, 16);
        std::memcpy(tmp, p, size_t((a.K - b * kActBlock + 1) / 2));
        p = tmp;
      }
      const __m128i v = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)),
                                      _mm_set1_epi8(char(0x88)));
      const __m128i m = _mm_set1_epi8(0x0f);
      const __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
      w = _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
      e[b] = 1.0f;
    } else {
      uint16_t h;
      w = load_block<T>(row, b, a.K, &h);
      e[b] = _cvtsh_ss(h);
    }
    if constexpr (is_q4(T)) w = _mm256_sub_epi8(w, _mm256_set1_epi8(8));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(wq + b * kActBlock), w);
  }
}

// out tile [R, J] for x rows r0.. and unpacked W rows wq[J], scales e[J].
template <int R, int J, bool kPerRow>
inline void gemm_tile(const Args& a, int64_t r0, const int8_t* const* wq, const float* const* e,
                      float* res) {
  __m256 acc[R][J];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int jj = 0; jj < J; ++jj) acc[r][jj] = _mm256_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    __m256i w[J], aw[J];
#pragma GCC unroll 2
    for (int jj = 0; jj < J; ++jj) {
      w[jj] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq[jj] + b * kActBlock));
      aw[jj] = _mm256_sign_epi8(w[jj], w[jj]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const int64_t rb = (r0 + r) * a.nb + b;
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + rb * kActBlock));
      const float dx = a.d[rb];
#pragma GCC unroll 2
      for (int jj = 0; jj < J; ++jj) {
        const __m256i m = pair_sums(aw[jj], _mm256_sign_epi8(x, w[jj]));
        const __m256 c = _mm256_set1_ps(kPerRow ? dx : dx * e[jj][b]);
        acc[r][jj] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), c, acc[r][jj]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int jj = 0; jj < J; ++jj) res[r * kNJ + jj] = avx2::hsum8(acc[r][jj]);
}

template <int R, bool kPerRow>
inline void gemm_tile_j(const Args& a, int64_t r0, int J, const int8_t* const* wq,
                        const float* const* e, float* res) {
  if (J == 2) gemm_tile<R, 2, kPerRow>(a, r0, wq, e, res);
  else gemm_tile<R, 1, kPerRow>(a, r0, wq, e, res);
}

template <DType T>
void gemm(const Args& a) {
  constexpr bool kPerRow = per_row(T);
  const int64_t panels = (a.N + kNR - 1) / kNR;
  const int64_t tiles = (a.n + kMR - 1) / kMR;
  const int64_t threads = omp_get_max_threads();
  const int64_t chunks = std::clamp<int64_t>((4 * threads + panels - 1) / panels, 1, tiles);
  const int64_t tiles_per_chunk = (tiles + chunks - 1) / chunks;
  const size_t row_q = size_t(a.nb * kActBlock);
#pragma omp parallel for schedule(static) if (a.n * a.N * a.K >= kParallelMinMacs)
  for (int64_t task = 0; task < panels * chunks; ++task) {
    const int64_t j0 = (task / chunks) * kNR;
    const int64_t r_begin = (task % chunks) * tiles_per_chunk * kMR;
    const int64_t r_end = std::min(a.n, r_begin + tiles_per_chunk * kMR);
    if (r_begin >= r_end) continue;
    const int64_t cols = std::min(kNR, a.N - j0);
    // [kNR][nb·32] int8 codes, then [kNR][nb] fp32 scales
    float* scratch = scratch_floats(size_t(kNR) * (row_q / 4 + size_t(a.nb)));
    auto* wq = reinterpret_cast<int8_t*>(scratch);
    float* e = scratch + size_t(kNR) * row_q / 4;
    for (int64_t i = 0; i < cols; ++i) unpack_row<T>(a, j0 + i, wq + size_t(i) * row_q, e + i * a.nb);
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kMR) {
      const int64_t R = std::min(kMR, r_end - r0);
      for (int64_t i = 0; i < cols; i += kNJ) {
        const int J = int(std::min(kNJ, cols - i));
        const int8_t* wqj[kNJ] = {wq + size_t(i) * row_q, wq + size_t(i + J - 1) * row_q};
        const float* ej[kNJ] = {e + i * a.nb, e + (i + J - 1) * a.nb};
        float res[kMR * kNJ];
        switch (R) {
          case 4: gemm_tile_j<4, kPerRow>(a, r0, J, wqj, ej, res); break;
          case 3: gemm_tile_j<3, kPerRow>(a, r0, J, wqj, ej, res); break;
          case 2: gemm_tile_j<2, kPerRow>(a, r0, J, wqj, ej, res); break;
          default: gemm_tile_j<1, kPerRow>(a, r0, J, wqj, ej, res); break;
        }
        for (int64_t r = 0; r < R; ++r)
          for (int jj = 0; jj < J; ++jj) {
            const int64_t j = j0 + i + jj;
            float v = res[r * kNJ + jj];
            if (kPerRow) v *= a.scale[j];
            if (a.bias) v += a.bias[j];
            a.out[(r0 + r) * a.os + j] = v;
          }
      }
    }
  }
}

template <DType T>
void run(const Args& a) {
  if (a.n >= kGemmMinRows) return gemm<T>(a);
  gemv<T>(a);
}

}  // namespace

void quantize_act_q8_avx2(const float* x, int64_t K, int8_t* q, float* d, int32_t* s) {
  quantize_row(x, K, q, d, s, false);
}

void matmul_q8act_avx2(const Tensor& x, const Weight& w, const Tensor& out) {
  Args a;
  a.x = x.data<float>();
  a.xs = x.row_stride;
  a.W = w.w.data<uint8_t>();
  a.wrb = w.w.row_bytes();
  a.scale = w.scale.empty() ? nullptr : w.scale.data<float>();
  a.bias = w.bias.empty() ? nullptr : w.bias.data<float>();
  a.out = out.data<float>();
  a.os = out.row_stride;
  a.n = x.rows();
  a.N = w.out_features();
  a.K = x.cols();
  a.nb = act_blocks(a.K);
  a.type = w.w.dtype;
  // The quantised activations, in this thread's activation scratch.
  const size_t row_q = size_t(a.nb * kActBlock);
  auto* mem = static_cast<uint8_t*>(scratch_act(size_t(a.n) * (row_q + 8 * size_t(a.nb))));
  auto* q = reinterpret_cast<int8_t*>(mem);
  auto* d = reinterpret_cast<float*>(mem + size_t(a.n) * row_q);
  auto* s = reinterpret_cast<int32_t*>(d + a.n * a.nb);
  // GEMV on Q4_C reads codes in even/odd order; the GEMM unpacks W to natural order.
  const bool even_odd = a.type == DType::Q4_C && a.n < kGemmMinRows;
#pragma omp parallel for schedule(static) if (a.n * a.K >= (int64_t(1) << 16))
  for (int64_t r = 0; r < a.n; ++r)
    quantize_row(a.x + r * a.xs, a.K, q + size_t(r) * row_q, d + r * a.nb, s + r * a.nb, even_odd);
  a.q = q;
  a.d = d;
  a.s = s;
  switch (a.type) {
    case DType::Q8_C: return run<DType::Q8_C>(a);
    case DType::Q4_C: return run<DType::Q4_C>(a);
    case DType::Q8_0: return run<DType::Q8_0>(a);
    case DType::Q4_0: return run<DType::Q4_0>(a);
    default: return;  // matmul_q8act_supports
  }
}

}  // namespace kllens::cpu
