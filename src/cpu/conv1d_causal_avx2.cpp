// conv1d_causal, AVX2 tier: 8 channels per register, channel blocks split over the
// threads (channels are independent, state included). Each block transposes its taps to
// [K][8] once, then runs over every token of every sequence. Taps are one FMA chain in
// order of k (the reference uses mul+add in the same order), bias added last, silu with
// the vector exp. Channels past the last multiple of 8 take the scalar formula.
#include <cmath>

#include "cpu/conv1d_causal.h"
#include "cpu/cpu_features.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

void conv1d_causal_avx2(const Conv1dArgs& a) {
  const int64_t B = a.batch, T = a.seqlen, C = a.x.cols(), K = a.weight.cols();
  const float* x = a.x.data<float>();
  const float* w = a.weight.data<float>();
  const float* bias = a.bias.empty() ? nullptr : a.bias.data<float>();
  float* state = a.state.data<float>();
  float* out = a.out.data<float>();
  const int64_t xs = a.x.row_stride, ss = a.state.row_stride, os = a.out.row_stride;
  const bool silu = a.silu;
  const int64_t blocks = (C + 7) / 8;

#pragma omp parallel for schedule(static) if (B * T * C * K >= (1 << 15))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * 8;
    const int64_t lanes = C - c0 < 8 ? C - c0 : 8;
    float* wt = scratch_floats(size_t(K) * 8);  // [K][8] taps of this block
    for (int64_t k = 0; k < K; ++k)
      for (int64_t l = 0; l < 8; ++l) wt[k * 8 + l] = l < lanes ? w[(c0 + l) * K + k] : 0.0f;
    for (int64_t b = 0; b < B; ++b) {
      auto xin = [&](int64_t j) -> const float* {  // row j of [state | x] of sequence b, at c0
        return (j < K - 1 ? state + (b * (K - 1) + j) * ss : x + (b * T + j - (K - 1)) * xs) + c0;
      };
      for (int64_t t = 0; t < T; ++t) {
        float* o = out + (b * T + t) * os + c0;
        if (lanes == 8) {
          __m256 acc = _mm256_mul_ps(_mm256_load_ps(wt), _mm256_loadu_ps(xin(t)));
          for (int64_t k = 1; k < K; ++k)
            acc = _mm256_fmadd_ps(_mm256_load_ps(wt + k * 8), _mm256_loadu_ps(xin(t + k)), acc);
          if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias + c0));
          _mm256_storeu_ps(o, silu ? avx2::silu8(acc) : acc);
        } else {
          for (int64_t l = 0; l < lanes; ++l) {
            float acc = 0.0f;
            for (int64_t k = 0; k < K; ++k) acc += wt[k * 8 + l] * xin(t + k)[l];
            if (bias) acc += bias[c0 + l];
            o[l] = silu ? acc / (1.0f + std::exp(-acc)) : acc;
          }
        }
      }
      // Ascending j reads xin(T + j) ≥ j: a state row is read before it is overwritten.
      for (int64_t j = 0; j < K - 1; ++j) {
        const float* src = xin(T + j);
        float* dst = state + (b * (K - 1) + j) * ss + c0;
        for (int64_t l = 0; l < lanes; ++l) dst[l] = src[l];
      }
    }
  }
}

}  // namespace kllens::cpu
