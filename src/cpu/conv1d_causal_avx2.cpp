// conv1d_causal, AVX2 tier: 8 channels per register; tasks of (sequence, 64 channels)
// split over the threads (channels are independent, state included). Each task
// transposes its taps to [K][8] per register block once, then runs over its tokens.
// Taps are one FMA chain in order of k (the reference uses mul+add in the same order), bias added last, silu with
// the vector exp. Channels past the last multiple of 8 take the scalar formula.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/conv1d_causal.h"
#include "cpu/cpu_features.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {

// Channels per task. Inside a task the loop runs token by token over its channel blocks,
// so each row of x and out is read as a few whole cache lines in order (block by block
// over all tokens instead touched one line per 6 KiB row: cache and TLB misses).
constexpr int64_t kChunk = 64;

// Mamba's K = 4: w[c0 .. c0+7][0 .. 3] (32 consecutive floats) → wt[k][8 channels] with
// in-register shuffles (the scalar transposition cost more than the conv for T = 1).
void transpose_taps4(const float* w, float* wt) {
  const __m256 v0 = _mm256_loadu_ps(w), v1 = _mm256_loadu_ps(w + 8),
               v2 = _mm256_loadu_ps(w + 16), v3 = _mm256_loadu_ps(w + 24);
  // Lanes: a0 = [c0 | c4], a1 = [c1 | c5], a2 = [c2 | c6], a3 = [c3 | c7] (4 taps each).
  const __m256 a0 = _mm256_permute2f128_ps(v0, v2, 0x20), a1 = _mm256_permute2f128_ps(v0, v2, 0x31);
  const __m256 a2 = _mm256_permute2f128_ps(v1, v3, 0x20), a3 = _mm256_permute2f128_ps(v1, v3, 0x31);
  const __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
  const __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
  _mm256_store_ps(wt, _mm256_shuffle_ps(t0, t2, 0x44));
  _mm256_store_ps(wt + 8, _mm256_shuffle_ps(t0, t2, 0xee));
  _mm256_store_ps(wt + 16, _mm256_shuffle_ps(t1, t3, 0x44));
  _mm256_store_ps(wt + 24, _mm256_shuffle_ps(t1, t3, 0xee));
}
}  // namespace

void conv1d_causal_avx2(const Conv1dArgs& a) {
  const int64_t B = a.batch, T = a.seqlen, C = a.x.cols(), K = a.weight.cols();
  const float* x = a.x.data<float>();
  const float* w = a.weight.data<float>();
  const float* bias = a.bias.empty() ? nullptr : a.bias.data<float>();
  float* state = a.state.data<float>();
  float* out = a.out.data<float>();
  const int64_t xs = a.x.row_stride, ss = a.state.row_stride, os = a.out.row_stride;
  const bool silu = a.silu;
  const int64_t chunks = (C + kChunk - 1) / kChunk;

#pragma omp parallel for schedule(static) if (B * T * C * K >= (1 << 15))
  for (int64_t task = 0; task < B * chunks; ++task) {
    const int64_t b = task / chunks, cb = (task % chunks) * kChunk;
    const int64_t ce = std::min(C, cb + kChunk), nblk = (ce - cb + 7) / 8;
    float* wt = scratch_floats(size_t(nblk * K * 8));  // [block][K][8] taps
    for (int64_t blk = 0; blk < nblk; ++blk) {
      const int64_t c0 = cb + blk * 8, lanes = std::min<int64_t>(8, ce - c0);
      float* wb = wt + blk * K * 8;
      if (K == 4 && lanes == 8) {
        transpose_taps4(w + c0 * 4, wb);
      } else {
        for (int64_t k = 0; k < K; ++k)
          for (int64_t l = 0; l < 8; ++l) wb[k * 8 + l] = l < lanes ? w[(c0 + l) * K + k] : 0.0f;
      }
    }
    auto xin = [&](int64_t j) -> const float* {  // row j of [state | x] of sequence b
      return j < K - 1 ? state + (b * (K - 1) + j) * ss : x + (b * T + j - (K - 1)) * xs;
    };
    for (int64_t t = 0; t < T; ++t) {
      float* o = out + (b * T + t) * os;
      // Past the first K−1 tokens every tap is a row of x: plain pointer steps.
      const float* x0 = t >= K - 1 ? x + (b * T + t - (K - 1)) * xs : nullptr;
      auto tap = [&](int64_t k) { return x0 ? x0 + k * xs : xin(t + k); };
      for (int64_t blk = 0; blk < nblk; ++blk) {
        const int64_t c0 = cb + blk * 8, lanes = std::min<int64_t>(8, ce - c0);
        const float* wb = wt + blk * K * 8;
        if (lanes == 8) {
          __m256 acc = _mm256_mul_ps(_mm256_load_ps(wb), _mm256_loadu_ps(tap(0) + c0));
          for (int64_t k = 1; k < K; ++k)
            acc = _mm256_fmadd_ps(_mm256_load_ps(wb + k * 8), _mm256_loadu_ps(tap(k) + c0), acc);
          if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias + c0));
          _mm256_storeu_ps(o + c0, silu ? avx2::silu8(acc) : acc);
        } else {
          for (int64_t l = 0; l < lanes; ++l) {
            float acc = 0.0f;
            for (int64_t k = 0; k < K; ++k) acc += wb[k * 8 + l] * tap(k)[c0 + l];
            if (bias) acc += bias[c0 + l];
            o[c0 + l] = silu ? acc / (1.0f + std::exp(-acc)) : acc;
          }
        }
      }
    }
    // Ascending j reads xin(T + j) ≥ j: a state row is read before it is overwritten.
    for (int64_t j = 0; j < K - 1; ++j)
      std::memmove(state + (b * (K - 1) + j) * ss + cb, xin(T + j) + cb, size_t(ce - cb) * 4);
  }
}

}  // namespace kllens::cpu
