// conv1d_causal, reference tier and dispatcher.
//   xin(b, j, c) = j < K−1 ? state[b, j, c] : x[b·T + j − (K−1), c]     j ∈ [0, K−1+T)
//   out[b·T + t, c] = act( Σ_{k<K} w[c, k] · xin(b, t + k, c) + bias[c] )
//   state[b, j, c] ← xin(b, T + j, c)                                    j ∈ [0, K−1)
// act(v) = v / (1 + e^−v) (silu) or v. Taps summed in order of k in fp32, bias added
// last, as HF's decode step (sum of conv_state · w, then + bias).
// Shapes: x, out [B·T, C]; w [C, K]; bias [C]; state [B, K−1, C].
#include "cpu/conv1d_causal.h"

#include <cmath>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void conv1d_causal_ref(const Conv1dArgs& a) {
  const int64_t B = a.batch, T = a.seqlen, C = a.x.cols(), K = a.weight.cols();
  const float* x = a.x.data<float>();
  const float* w = a.weight.data<float>();
  const float* bias = a.bias.empty() ? nullptr : a.bias.data<float>();
  float* state = a.state.data<float>();
  float* out = a.out.data<float>();
  const int64_t xs = a.x.row_stride, ss = a.state.row_stride, os = a.out.row_stride;
  for (int64_t b = 0; b < B; ++b) {
    auto xin = [&](int64_t j) -> const float* {  // row j of [state | x] for sequence b
      return j < K - 1 ? state + (b * (K - 1) + j) * ss : x + (b * T + j - (K - 1)) * xs;
    };
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t c = 0; c < C; ++c) {
        float acc = 0.0f;
        for (int64_t k = 0; k < K; ++k) acc += w[c * K + k] * xin(t + k)[c];
        if (bias) acc += bias[c];
        out[(b * T + t) * os + c] = a.silu ? acc / (1.0f + std::exp(-acc)) : acc;
      }
    }
    // Ascending j reads xin(T + j) ≥ j: a state row is read before it is overwritten.
    for (int64_t j = 0; j < K - 1; ++j)
      for (int64_t c = 0; c < C; ++c) state[(b * (K - 1) + j) * ss + c] = xin(T + j)[c];
  }
}

void conv1d_causal(CpuTier tier, const Conv1dArgs& a) {
  if (runs_avx2(tier)) return conv1d_causal_avx2(a);
  conv1d_causal_ref(a);
}

}  // namespace kllens::cpu
