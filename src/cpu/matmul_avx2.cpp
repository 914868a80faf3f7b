// matmul, AVX2 tier: out[r, j] = Σ_k x[r, k] · W[j, k] + bias[j].
//
// Two regimes.
// GEMV (n < kGemmMinRows, decode): memory-bound, so W is streamed exactly once: rows
//   split statically over the threads (each thread reads one contiguous stretch of W,
//   front to back), every row dotted with all n rows of x (which stay in L1). F16 is
//   widened with F16C, BF16 with a shift, integer types by sign extension, on the fly.
// GEMM (prefill): compute-bound. W is cut into panels of 16 rows, each panel converted
//   once to F32 and packed k-major ([K][16]) so that a 6×16 register tile of out
//   (12 accumulators) needs two aligned loads and six broadcasts per k. Tasks are
//   (panel, chunk of x rows); every task reuses its packed panel across all its rows.
// Sums: each output is one fp32 FMA chain over k (GEMM: in order of k; GEMV: 8·4 or 8·2
// partial sums then a horizontal sum), so both regimes agree with the in-order reference to a
// few ulp of the dot product's magnitude.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "cpu/cpu_features.h"
#include "cpu/dequant.h"
#include "cpu/matmul.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {

constexpr int64_t kGemmMinRows = 4;          // n at and above this: packed GEMM
// Below this many multiply-adds (~20 µs on one core) one thread does it all: a fork/join
// costs microseconds on a quiet machine and far more when the cores are shared.
constexpr int64_t kParallelMinMacs = int64_t(1) << 18;

// ---- element loaders for the per-element types (value = row scale · element) ----------

template <DType T> struct Elem;
template <> struct Elem<DType::F32> {
  static __m256 load8(const uint8_t* row, int64_t k) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  }
  static float load1(const uint8_t* row, int64_t k) {
    return reinterpret_cast<const float*>(row)[k];
  }
};
template <> struct Elem<DType::F16> {
  static __m256 load8(const uint8_t* row, int64_t k) {
    return avx2::load8_f16(reinterpret_cast<const uint16_t*>(row) + k);
  }
  static float load1(const uint8_t* row, int64_t k) {
    return _cvtsh_ss(reinterpret_cast<const uint16_t*>(row)[k]);
  }
};
template <> struct Elem<DType::BF16> {
  static __m256 load8(const uint8_t* row, int64_t k) {
    return avx2::load8_bf16(reinterpret_cast<const uint16_t*>(row) + k);
  }
  static float load1(const uint8_t* row, int64_t k) {
    return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[k]);
  }
};
template <> struct Elem<DType::Q8_C> {
  static __m256 load8(const uint8_t* row, int64_t k) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + k));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  }
  static float load1(const uint8_t* row, int64_t k) { return float(int8_t(row[k])); }
};
template <> struct Elem<DType::Q4_C> {
  // 8 elements = 4 bytes; each byte duplicated, then lane 2i takes the low nibble and
  // lane 2i+1 the high one, sign-extended from 4 bits as (v ^ 8) − 8.
  static __m256 load8(const uint8_t* row, int64_t k) {
    int32_t bytes;
    std::memcpy(&bytes, row + k / 2, 4);
    const __m128i b = _mm_cvtsi32_si128(bytes);
    __m256i v = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(b, b));
    v = _mm256_srlv_epi32(v, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
    v = _mm256_and_si256(v, _mm256_set1_epi32(0xf));
    v = _mm256_sub_epi32(_mm256_xor_si256(v, _mm256_set1_epi32(8)), _mm256_set1_epi32(8));
    return _mm256_cvtepi32_ps(v);
  }
  static float load1(const uint8_t* row, int64_t k) { return float(q4c_value(row, k)); }
};

// res[i] = Σ_k W[i, k] · x[k] for R consecutive W rows starting at w (wrb bytes apart).
// ---- ggml block types: 32 elements per block, one F16 scale d per block --------------

template <DType T> struct Block;
template <> struct Block<DType::Q8_0> {  // {f16 d; int8 qs[32]}
  static constexpr size_t kBytes = 34;
  static __m256 load8(const uint8_t* blk, int g) {  // elements 8g .. 8g+7
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * g));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  }
};
template <> struct Block<DType::Q4_0> {  // {f16 d; uint8 qs[16]}: lo nibbles 0..15, hi 16..31
  static constexpr size_t kBytes = 18;
  static __m256 load8(const uint8_t* blk, int g) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * (g & 1)));
    __m256i v = _mm256_srli_epi32(_mm256_cvtepu8_epi32(q), 4 * (g >> 1));
    v = _mm256_sub_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0xf)), _mm256_set1_epi32(8));
    return _mm256_cvtepi32_ps(v);
  }
};

inline float block_scale(const uint8_t* blk) {
  uint16_t d;
  std::memcpy(&d, blk, 2);
  return _cvtsh_ss(d);
}

// ---- GEMV: one W row at a time ------------------------------------------------------
// A row is read front to back, so each thread's share of W is one sequential stream
// (reading several rows interleaved measured 2× slower from DRAM: it defeats the
// prefetchers). With one x row, 4 accumulators hide FMA latency; with 2–3, 2 each.

// res[r] = Σ_k W[k] · x[r, k] for NX rows of x, W one stored row of a per-element type.
template <DType T, int NX>
inline void dot_row(const uint8_t* w, const float* x, int64_t xs, int64_t K, float* res) {
  using E = Elem<T>;
  constexpr int kAcc = NX == 1 ? 4 : 2;
  __m256 acc[NX][kAcc];
#pragma GCC unroll 4
  for (int r = 0; r < NX; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < kAcc; ++u) acc[r][u] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 * kAcc <= K; k += 8 * kAcc)
#pragma GCC unroll 4
    for (int u = 0; u < kAcc; ++u) {
      const __m256 wv = E::load8(w, k + 8 * u);
#pragma GCC unroll 4
      for (int r = 0; r < NX; ++r)
        acc[r][u] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * xs + k + 8 * u), acc[r][u]);
    }
  for (; k + 8 <= K; k += 8) {
    const __m256 wv = E::load8(w, k);
    for (int r = 0; r < NX; ++r)
      acc[r][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * xs + k), acc[r][0]);
  }
  for (int r = 0; r < NX; ++r) {
    for (int u = 1; u < kAcc; ++u) acc[r][0] = _mm256_add_ps(acc[r][0], acc[r][u]);
    float s = avx2::hsum8(acc[r][0]);
    for (int64_t kk = k; kk < K; ++kk) s += E::load1(w, kk) * x[r * xs + kk];
    res[r] = s;
  }
}

// As dot_row, for Q8_0 / Q4_0: per block Σ q·x in one register, then times d.
template <DType T, int NX>
inline void dot_row_blocks(const uint8_t* w, const float* x, int64_t xs, int64_t K, float* res) {
  using B = Block<T>;
  __m256 acc[NX];
  for (int r = 0; r < NX; ++r) acc[r] = _mm256_setzero_ps();
  const int64_t full = K / 32;
  for (int64_t blk = 0; blk < full; ++blk) {
    const uint8_t* p = w + blk * B::kBytes;
    const __m256 q0 = B::load8(p, 0), q1 = B::load8(p, 1), q2 = B::load8(p, 2),
                 q3 = B::load8(p, 3), d = _mm256_set1_ps(block_scale(p));
    for (int r = 0; r < NX; ++r) {
      const float* xb = x + r * xs + blk * 32;
      __m256 s = _mm256_mul_ps(q0, _mm256_loadu_ps(xb));
      s = _mm256_fmadd_ps(q1, _mm256_loadu_ps(xb + 8), s);
      s = _mm256_fmadd_ps(q2, _mm256_loadu_ps(xb + 16), s);
      s = _mm256_fmadd_ps(q3, _mm256_loadu_ps(xb + 24), s);
      acc[r] = _mm256_fmadd_ps(s, d, acc[r]);
    }
  }
  const int64_t tail = K - full * 32;  // a shorter last group, stored in a full block
  float wt[32];
  if (tail) dequant_row(T, w + full * B::kBytes, tail, 1.0f, wt);
  for (int r = 0; r < NX; ++r) {
    float s = avx2::hsum8(acc[r]);
    for (int64_t kk = 0; kk < tail; ++kk) s += wt[kk] * x[r * xs + full * 32 + kk];
    res[r] = s;
  }
}

struct Args {
  const float* x; int64_t xs;     // [n, K]
  const uint8_t* W; size_t wrb;   // [N, K] stored rows
  const float* scale;             // [N] or null
  const float* bias;              // [N] or null
  float* out; int64_t os;         // [n, N]
  int64_t n, N, K;
  DType type;
};

template <DType T, int NX>
void gemv(const Args& a) {
#pragma omp parallel for schedule(static) if (a.N * a.K * NX >= kParallelMinMacs)
  for (int64_t j = 0; j < a.N; ++j) {
    const uint8_t* w = a.W + size_t(j) * a.wrb;
    float res[NX];
    if constexpr (T == DType::Q8_0 || T == DType::Q4_0)
      dot_row_blocks<T, NX>(w, a.x, a.xs, a.K, res);
    else
      dot_row<T, NX>(w, a.x, a.xs, a.K, res);
    for (int r = 0; r < NX; ++r) {
      float v = res[r];
      if (a.scale) v *= a.scale[j];
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
    default: return gemv<T, 3>(a);  // n < kGemmMinRows = 4
  }
}

// ---- GEMM --------------------------------------------------------------------------

constexpr int64_t kNR = 16;  // W rows per packed panel (two registers of out)
constexpr int64_t kMR = 6;   // x rows per register tile (6 × 2 accumulators)

// dst[0..K) = row of W as F32 (the row scale folded in, as the reference does).
void row_to_f32(const Args& a, int64_t j, float* tmp, const float** dst) {
  const uint8_t* row = a.W + size_t(j) * a.wrb;
  if (a.type == DType::F32) {
    *dst = reinterpret_cast<const float*>(row);
    return;
  }
  int64_t k = 0;
  if (a.type == DType::F16) {
    for (; k + 8 <= a.K; k += 8) _mm256_store_ps(tmp + k, Elem<DType::F16>::load8(row, k));
    for (; k < a.K; ++k) tmp[k] = Elem<DType::F16>::load1(row, k);
  } else if (a.type == DType::BF16) {
    for (; k + 8 <= a.K; k += 8) _mm256_store_ps(tmp + k, Elem<DType::BF16>::load8(row, k));
    for (; k < a.K; ++k) tmp[k] = Elem<DType::BF16>::load1(row, k);
  } else {
    dequant_row(a.type, row, a.K, a.scale ? a.scale[j] : 1.0f, tmp);
  }
  *dst = tmp;
}

// pack[k·16 + i] = W[j0 + i, k]; rows past N are zero.
void pack_panel(const Args& a, int64_t j0, float* pack, float* tmp) {
  for (int64_t i = 0; i < kNR; ++i) {
    if (j0 + i >= a.N) {
      for (int64_t k = 0; k < a.K; ++k) pack[k * kNR + i] = 0.0f;
      continue;
    }
    const float* src;
    row_to_f32(a, j0 + i, tmp, &src);
    for (int64_t k = 0; k < a.K; ++k) pack[k * kNR + i] = src[k];
  }
}

// tile[r·16 + i] = Σ_k x[r, k] · pack[k·16 + i] for r < R.
template <int R>
inline void gemm_tile(const float* x, int64_t xs, const float* pack, int64_t K, float* tile) {
  // Unrolled before GCC's scalar replacement so the 2R accumulators stay in registers
  // (without the pragmas it kept the arrays in memory and stored them every k).
  __m256 c0[R], c1[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_load_ps(pack + k * kNR), b1 = _mm256_load_ps(pack + k * kNR + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x + r * xs + k);
      c0[r] = _mm256_fmadd_ps(xv, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(xv, b1, c1[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(tile + r * kNR, c0[r]);
    _mm256_storeu_ps(tile + r * kNR + 8, c1[r]);
  }
}

void gemm(const Args& a) {
  const int64_t panels = (a.N + kNR - 1) / kNR;
  const int64_t tiles = (a.n + kMR - 1) / kMR;
  // Enough tasks for every thread when N has few panels (x_proj: N = 80 is 5 panels).
  const int64_t threads = omp_get_max_threads();
  const int64_t chunks = std::clamp<int64_t>((4 * threads + panels - 1) / panels, 1, tiles);
  const int64_t tiles_per_chunk = (tiles + chunks - 1) / chunks;
#pragma omp parallel for schedule(static) if (a.n * a.N * a.K >= kParallelMinMacs)
  for (int64_t task = 0; task < panels * chunks; ++task) {
    const int64_t j0 = (task / chunks) * kNR;
    const int64_t r_begin = (task % chunks) * tiles_per_chunk * kMR;
    const int64_t r_end = std::min(a.n, r_begin + tiles_per_chunk * kMR);
    if (r_begin >= r_end) continue;
    const int64_t K8 = (a.K + 7) / 8 * 8;
    float* pack = scratch_floats(size_t(kNR * a.K + K8 + kMR * kNR));
    float* tmp = pack + kNR * a.K;  // 32-byte aligned: kNR · K floats before it
    float* tile = tmp + K8;
    pack_panel(a, j0, pack, tmp);
    const int64_t cols = std::min(kNR, a.N - j0);
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kMR) {
      const int64_t R = std::min(kMR, r_end - r0);
      const float* xr = a.x + r0 * a.xs;
      switch (R) {
        case 6: gemm_tile<6>(xr, a.xs, pack, a.K, tile); break;
        case 5: gemm_tile<5>(xr, a.xs, pack, a.K, tile); break;
        case 4: gemm_tile<4>(xr, a.xs, pack, a.K, tile); break;
        case 3: gemm_tile<3>(xr, a.xs, pack, a.K, tile); break;
        case 2: gemm_tile<2>(xr, a.xs, pack, a.K, tile); break;
        default: gemm_tile<1>(xr, a.xs, pack, a.K, tile); break;
      }
      for (int64_t r = 0; r < R; ++r) {
        float* o = a.out + (r0 + r) * a.os + j0;
        for (int64_t i = 0; i < cols; ++i)
          o[i] = a.bias ? tile[r * kNR + i] + a.bias[j0 + i] : tile[r * kNR + i];
      }
    }
  }
}

}  // namespace

void matmul_avx2(const Tensor& x, const Weight& w, const Tensor& out) {
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
  a.type = w.w.dtype;
  if (a.n >= kGemmMinRows) return gemm(a);
  switch (a.type) {
    case DType::F32: return gemv<DType::F32>(a);
    case DType::F16: return gemv<DType::F16>(a);
    case DType::BF16: return gemv<DType::BF16>(a);
    case DType::Q8_C: return gemv<DType::Q8_C>(a);
    case DType::Q4_C: return gemv<DType::Q4_C>(a);
    case DType::Q8_0: return gemv<DType::Q8_0>(a);
    case DType::Q4_0: return gemv<DType::Q4_0>(a);
    default: return;  // the backend accepts only the weight types above
  }
}

}  // namespace kllens::cpu
