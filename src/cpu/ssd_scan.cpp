// ssd_scan, reference tiers and dispatcher (formulas in ssd_scan.h).
//
// ssd_scan_ref, per (b, h), token by token (HF's decode-step arithmetic):
//   Δ = clamp(softplus(dt + dt_bias)); dA = exp(Δ·A)
//   S[p,n] = dA · S[p,n] + (Δ · B[n]) · x[p];   y[p] = Σ_n S[p,n] · C[n] (in order) + D · x[p]
//
// ssd_scan_chunked_ref, per (b, h), chunks of Q tokens (the last one shorter), local
// index l, s ∈ [0, Q):  a_l = Δ_l·A ≤ 0,  X[l,p] = Δ_l·x[l,p]
//   seg[l,s]  = Σ_{k=s+1..l} a_k  for s ≤ l   (a masked cumulative sum down column s, so
//               no difference of two cumsums and no cancellation)
//   Â_l       = Σ_{k=0..l} a_k
//   y[l,p]    = Σ_{s≤l} (C_l·B_s) · exp(seg[l,s]) · X[s,p]        intra-chunk
//             + exp(Â_l) · Σ_n S[p,n] · C_l[n]                   state entering the chunk
//             + D · x[l,p]
//   S[p,n]   ← exp(Â_{Q−1}) · S[p,n] + Σ_s exp(seg[Q−1,s]) · X[s,p] · B_s[n]
// Every exponent is a sum of non-positive terms: no overflow. Buffers per chunk:
// a, Â [Q]; E = exp(seg) [Q, Q] (lower triangle); X [Q, P]; CB [Q, Q].
#include "cpu/ssd_scan.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_features.h"

namespace kllens::cpu {

namespace {

float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

// Δ of token row r, head h.
float delta_of(const SsdScanArgs& a, int64_t r, int64_t h) {
  const float v = a.dt.data<float>()[r * a.dt.row_stride + h] + a.dt_bias.data<float>()[h];
  return std::min(std::max(softplus(v), a.dt_min), a.dt_max);
}

// Row (b, h, p) of the [B·nh·P, N] state.
float* state_row(const SsdScanArgs& a, int64_t b, int64_t h, int64_t p) {
  return a.state.data<float>() + ((b * a.heads + h) * a.head_dim + p) * a.state.row_stride;
}

}  // namespace

void ssd_scan_ref(const SsdScanArgs& a) {
  const int64_t T = a.seqlen, nh = a.heads, P = a.head_dim, N = a.state_size;
  const int64_t hpg = nh / a.groups;  // heads per group
  const float* x = a.x.data<float>();
  const float* Bm = a.B.data<float>();
  const float* Cm = a.C.data<float>();
  const float* D = a.D.empty() ? nullptr : a.D.data<float>();
  float* out = a.out.data<float>();
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t g = h / hpg;
      const float A = a.A.data<float>()[h];
      for (int64_t t = 0; t < T; ++t) {
        const int64_t r = b * T + t;
        const float dt = delta_of(a, r, h);
        const float dA = std::exp(dt * A);
        const float* Br = Bm + r * a.B.row_stride + g * N;  // [N]
        const float* Cr = Cm + r * a.C.row_stride + g * N;  // [N]
        for (int64_t p = 0; p < P; ++p) {
          const float xp = x[r * a.x.row_stride + h * P + p];
          float* S = state_row(a, b, h, p);  // [N]
          float y = 0.0f;
          for (int64_t n = 0; n < N; ++n) {
            S[n] = dA * S[n] + (dt * Br[n]) * xp;
            y += S[n] * Cr[n];
          }
          if (D) y += D[h] * xp;
          out[r * a.out.row_stride + h * P + p] = y;
        }
      }
    }
}

void ssd_scan_chunked_ref(const SsdScanArgs& a) {
  const int64_t T = a.seqlen, nh = a.heads, P = a.head_dim, N = a.state_size;
  const int64_t Q = std::min(a.chunk, T), hpg = nh / a.groups;
  const float* x = a.x.data<float>();
  const float* Bm = a.B.data<float>();
  const float* Cm = a.C.data<float>();
  const float* D = a.D.empty() ? nullptr : a.D.data<float>();
  float* out = a.out.data<float>();
  std::vector<float> av(static_cast<size_t>(Q)), Acum(av), E(static_cast<size_t>(Q * Q)),
      X(static_cast<size_t>(Q * P));
  std::vector<float> S(static_cast<size_t>(P * N)), Sc(S);
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t g = h / hpg;
      const float A = a.A.data<float>()[h];
      for (int64_t p = 0; p < P; ++p)
        for (int64_t n = 0; n < N; ++n) S[size_t(p * N + n)] = state_row(a, b, h, p)[n];
      for (int64_t c0 = 0; c0 < T; c0 += Q) {
        const int64_t L = std::min(Q, T - c0);  // tokens in this chunk
        auto row = [&](int64_t l) { return b * T + c0 + l; };
        auto Bl = [&](int64_t l) { return Bm + row(l) * a.B.row_stride + g * N; };
        auto Cl = [&](int64_t l) { return Cm + row(l) * a.C.row_stride + g * N; };
        for (int64_t l = 0; l < L; ++l) {
          const float dt = delta_of(a, row(l), h);
          av[size_t(l)] = dt * A;
          for (int64_t p = 0; p < P; ++p)
            X[size_t(l * P + p)] = x[row(l) * a.x.row_stride + h * P + p] * dt;
          Acum[size_t(l)] = (l ? Acum[size_t(l - 1)] : 0.0f) + av[size_t(l)];
        }
        // E[l,s] = exp(seg[l,s]): cumulative sum down each column s from its diagonal.
        for (int64_t s = 0; s < L; ++s) {
          float acc = 0.0f;
          E[size_t(s * Q + s)] = 1.0f;
          for (int64_t l = s + 1; l < L; ++l) {
            acc += av[size_t(l)];
            E[size_t(l * Q + s)] = std::exp(acc);
          }
        }
        for (int64_t l = 0; l < L; ++l) {
          const float eA = std::exp(Acum[size_t(l)]);
          for (int64_t p = 0; p < P; ++p) {
            float yd = 0.0f;  // intra-chunk
            for (int64_t s = 0; s <= l; ++s) {
              float cb = 0.0f;
              for (int64_t n = 0; n < N; ++n) cb += Cl(l)[n] * Bl(s)[n];
              yd += cb * E[size_t(l * Q + s)] * X[size_t(s * P + p)];
            }
            float yo = 0.0f;  // from the state entering the chunk
            for (int64_t n = 0; n < N; ++n) yo += S[size_t(p * N + n)] * Cl(l)[n];
            float y = yd + eA * yo;
            const float xp = x[row(l) * a.x.row_stride + h * P + p];
            if (D) y += D[h] * xp;
            out[row(l) * a.out.row_stride + h * P + p] = y;
          }
        }
        // The chunk's own contribution to the state at its end, then the recurrence.
        std::fill(Sc.begin(), Sc.end(), 0.0f);
        for (int64_t s = 0; s < L; ++s) {
          const float w = E[size_t((L - 1) * Q + s)];
          for (int64_t p = 0; p < P; ++p)
            for (int64_t n = 0; n < N; ++n)
              Sc[size_t(p * N + n)] += (w * X[size_t(s * P + p)]) * Bl(s)[n];
        }
        const float eEnd = std::exp(Acum[size_t(L - 1)]);
        for (size_t i = 0; i < S.size(); ++i) S[i] = eEnd * S[i] + Sc[i];
      }
      for (int64_t p = 0; p < P; ++p)
        for (int64_t n = 0; n < N; ++n) state_row(a, b, h, p)[n] = S[size_t(p * N + n)];
    }
}

void ssd_scan(CpuTier tier, const SsdScanArgs& a) {
  if (runs_avx2(tier)) return ssd_scan_avx2(a);
  ssd_scan_ref(a);
}

}  // namespace kllens::cpu
