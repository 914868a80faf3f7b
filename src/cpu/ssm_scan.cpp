// ssm_scan, reference tier and dispatcher: HF MambaMixer.slow_forward's scan in fp32.
//   Δ        = delta[r,i] > 20 ? delta[r,i] : log1p(exp(delta[r,i]))   (if delta_softplus)
//   h[n]     = exp(Δ · A[i,n]) · h[n] + (Δ · B[r,n]) · u[r,i]             (r = b·T + t)
//   y        = Σ_n h[n] · C[r,n]  (in order of n)  + u[r,i] · D[i]
//   out[r,i] = y · z/(1 + e^−z),  z = z[r,i]                              (if z given)
// Shapes: u, delta, z, out [B·T, I]; B, C [B·T, N]; A [I, N]; D [I]; state [B, I, N].
// Every intermediate is fp32, each product rounded as HF's elementwise torch ops round it.
#include "cpu/ssm_scan.h"

#include <cmath>
#include <vector>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void ssm_scan_ref(const SsmScanArgs& a) {
  const int64_t Bt = a.batch, T = a.seqlen, I = a.u.cols(), N = a.A.cols();
  const float* u = a.u.data<float>();
  const float* delta = a.delta.data<float>();
  const float* A = a.A.data<float>();
  const float* Bm = a.B.data<float>();
  const float* Cm = a.C.data<float>();
  const float* D = a.D.empty() ? nullptr : a.D.data<float>();
  const float* z = a.z.empty() ? nullptr : a.z.data<float>();
  float* state = a.state.data<float>();
  float* out = a.out.data<float>();
  std::vector<float> h(static_cast<size_t>(N));  // [N] state of one channel
  for (int64_t b = 0; b < Bt; ++b) {
    for (int64_t i = 0; i < I; ++i) {
      float* st = state + (b * I + i) * a.state.row_stride;  // state rows: (b, i)
      for (int64_t n = 0; n < N; ++n) h[size_t(n)] = st[n];
      for (int64_t t = 0; t < T; ++t) {
        const int64_t r = b * T + t;
        float dt = delta[r * a.delta.row_stride + i];
        if (a.delta_softplus) dt = dt > 20.0f ? dt : std::log1p(std::exp(dt));
        const float ui = u[r * a.u.row_stride + i];
        float y = 0.0f;
        for (int64_t n = 0; n < N; ++n) {
          const float dA = std::exp(dt * A[i * a.A.row_stride + n]);
          const float dBu = (dt * Bm[r * a.B.row_stride + n]) * ui;
          h[size_t(n)] = dA * h[size_t(n)] + dBu;
          y += h[size_t(n)] * Cm[r * a.C.row_stride + n];
        }
        if (D) y += ui * D[i];
        if (z) {
          const float g = z[r * a.z.row_stride + i];
          y *= g / (1.0f + std::exp(-g));
        }
        out[r * a.out.row_stride + i] = y;
      }
      for (int64_t n = 0; n < N; ++n) st[n] = h[size_t(n)];
    }
  }
}

void ssm_scan(CpuTier tier, const SsmScanArgs& a) {
  if (tier == CpuTier::avx512) return ssm_scan_avx512(a);
  if (runs_avx2(tier)) return ssm_scan_avx2(a);
  ssm_scan_ref(a);
}

}  // namespace kllens::cpu
