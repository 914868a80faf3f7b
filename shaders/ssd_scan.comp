#version 450
// ssd_scan: the Mamba-2 SSD scan (SsdScanArgs; specs/mamba.md §5), per sequence b, head h
// (P channels), state n, g(h) = h / hpg:
//   Δ_t = clamp(softplus(dt[t,h] + dt_bias[h]), dt_min, dt_max),  a_t = Δ_t·A[h] ≤ 0
//   H ← exp(a_t)·H + (Δ_t·x[t,h,:]) ⊗ B[t,g,:]    (H ∈ R^{P×N}, fp32)
//   y[t,h,:] = H·C[t,g,:] + D[h]·x[t,h,:]
// Five kernels (-DSSD_KERNEL):
//  0 step    the recurrence token by token, one thread per (b, h, p) with H[p,:] in
//            registers: the decode step (T = 1), in the CPU's order of operations.
//  Chunked prefill (chunks of Q tokens, local index l, Â_l = Σ_{k≤l} a_k within the chunk):
//  1 cumsum  one thread per (b, h, chunk): Δ_t and Â_l into the scratch `cum`.
//  2 state   one workgroup per (b, h, chunk): the chunk's own end state
//            S_c[p,n] = Σ_s exp(Â_last − Â_s)·Δ_s·x_s[p]·B_s[n] into `cs`.
//  3 pass    one thread per (b, h, p, n): H ← exp(Â_last,c)·H + S_c over the chunks, from
//            and back to `state`; `cs` slot c is overwritten with the state entering chunk c.
//  4 out     one workgroup per (b, h, chunk, LT rows):
//            y[l,p] = Σ_{s≤l} (C_l·B_s)·exp(Â_l − Â_s)·Δ_s·x_s[p]
//                   + exp(Â_l)·Σ_n Hin[p,n]·C_l[n] + D·x_l[p]
// Decay factors are differences of the chunk-local cumsum (as the Triton kernels do): every
// exponent is ≤ 0, and the rounding of Â (≤ ulp(|Â|)) only perturbs factors that |Â|
// already makes small. The CPU reference recurs token by token or sums masked cumsums;
// the two agree to fp32 rounding (NMSE ~1e-13 on real shapes).
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "ssd_scan.h"
#include "math.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint P = 64;   // head dim
layout(constant_id = 2) const uint N = 128;  // state size
layout(constant_id = 3) const uint LT = 16;  // kernel 4: rows (tokens) per workgroup
layout(constant_id = 4) const uint TS = 16;  // kernels 2, 4: tokens per shared tile
layout(push_constant) uniform Push { SsdScanPush p; };

layout(std430, binding = SSD_SCAN_BINDING_X) readonly buffer Xb { float x[]; };
layout(std430, binding = SSD_SCAN_BINDING_DT) readonly buffer Dtb { float dt[]; };
layout(std430, binding = SSD_SCAN_BINDING_DT_BIAS) readonly buffer Biasb { float dt_bias[]; };
layout(std430, binding = SSD_SCAN_BINDING_A) readonly buffer Ab { float Av[]; };
layout(std430, binding = SSD_SCAN_BINDING_B) readonly buffer Bb { float Bm[]; };
layout(std430, binding = SSD_SCAN_BINDING_C) readonly buffer Cb { float Cm[]; };
layout(std430, binding = SSD_SCAN_BINDING_D) readonly buffer Db { float Dv[]; };
layout(std430, binding = SSD_SCAN_BINDING_STATE) buffer Stb { float st[]; };
layout(std430, binding = SSD_SCAN_BINDING_OUT) writeonly buffer Outb { float o[]; };
layout(std430, binding = SSD_SCAN_BINDING_CUM) buffer Cumb { float cum[]; };
layout(std430, binding = SSD_SCAN_BINDING_CHUNK_STATE) buffer Csb { float cs[]; };

float delta(uint row, uint h) {
  const float v = dt[p.dt_off + row * p.dt_stride + h] + dt_bias[p.bias_off + h];
  return min(max(softplus(v), p.dt_min), p.dt_max);
}
// Scratch index of (b, h, t): Δ at it, Â at it + B·nh·T.
uint cum_at(uint b, uint h, uint t) { return p.cum_off + (b * p.nh + h) * p.T + t; }

#if SSD_KERNEL == 0  // ---- step -------------------------------------------------------
void main() {
  const uint i = gl_GlobalInvocationID.x, b = gl_GlobalInvocationID.y;
  if (i >= p.nh * P || b >= p.B) return;
  const uint h = i / P, pp = i - h * P, gn = (h / p.hpg) * N;
  const uint srow = p.st_off + ((b * p.nh + h) * P + pp) * p.st_stride;
  float H[N];
  for (uint n = 0; n < N; ++n) H[n] = st[srow + n];
  const float A = Av[p.A_off + h], D = p.has_D != 0 ? Dv[p.D_off + h] : 0.0;
  for (uint t = 0; t < p.T; ++t) {
    const uint row = b * p.T + t;
    const float d = delta(row, h), dA = exp(d * A);
    const float xp = x[p.x_off + row * p.x_stride + h * P + pp];
    const uint br = p.B_off + row * p.B_stride + gn, cr = p.C_off + row * p.C_stride + gn;
    float y = 0.0;
    for (uint n = 0; n < N; ++n) {
      H[n] = dA * H[n] + (d * Bm[br + n]) * xp;
      y += H[n] * Cm[cr + n];
    }
    if (p.has_D != 0) y += D * xp;
    o[p.out_off + row * p.out_stride + h * P + pp] = y;
  }
  for (uint n = 0; n < N; ++n) st[srow + n] = H[n];
}

#elif SSD_KERNEL == 1  // ---- cumsum ---------------------------------------------------
void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.B * p.nh * p.nc) return;
  const uint c = i % p.nc, bh = i / p.nc, h = bh % p.nh, b = bh / p.nh;
  const float A = Av[p.A_off + h];
  const uint t0 = c * p.Q, t1 = min(p.T, t0 + p.Q), second = p.B * p.nh * p.T;
  float acc = 0.0;
  for (uint t = t0; t < t1; ++t) {
    const float d = delta(b * p.T + t, h);
    acc += d * A;
    cum[cum_at(b, h, t)] = d;
    cum[cum_at(b, h, t) + second] = acc;
  }
}

#elif SSD_KERNEL == 2  // ---- chunk state ----------------------------------------------
const uint NE = (P * N + gl_WorkGroupSize.x - 1) / gl_WorkGroupSize.x;
shared float Xs[TS * P];  // exp(Â_last − Â_s)·Δ_s·x_s
shared float Bs[TS * N];

void main() {
  const uint WG = gl_WorkGroupSize.x, tid = gl_LocalInvocationID.x;
  const uint c = gl_WorkGroupID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint t0 = c * p.Q, L = min(p.Q, p.T - t0), gn = (h / p.hpg) * N;
  const uint second = p.B * p.nh * p.T;
  const float a_last = cum[cum_at(b, h, t0 + L - 1) + second];
  float acc[NE];
  for (uint k = 0; k < NE; ++k) acc[k] = 0.0;
  for (uint s0 = 0; s0 < L; s0 += TS) {
    const uint ns = min(TS, L - s0);
    barrier();
    for (uint e = tid; e < TS * P; e += WG) {
      const uint s = e / P, pp = e - s * P;
      float v = 0.0;
      if (s < ns) {
        const uint t = t0 + s0 + s;
        const float w = exp(a_last - cum[cum_at(b, h, t) + second]) * cum[cum_at(b, h, t)];
        v = w * x[p.x_off + (b * p.T + t) * p.x_stride + h * P + pp];
      }
      Xs[e] = v;
    }
    for (uint e = tid; e < TS * N; e += WG) {
      const uint s = e / N, n = e - s * N;
      Bs[e] = s < ns ? Bm[p.B_off + (b * p.T + t0 + s0 + s) * p.B_stride + gn + n] : 0.0;
    }
    barrier();
    for (uint k = 0; k < NE; ++k) {
      const uint e = tid + k * WG;
      if (e < P * N) {
        const uint pp = e / N, n = e - pp * N;
        float sum = 0.0;
        for (uint s = 0; s < ns; ++s) sum += Xs[s * P + pp] * Bs[s * N + n];
        acc[k] += sum;
      }
    }
  }
  const uint base = p.cs_off + ((b * p.nh + h) * p.nc + c) * P * N;
  for (uint k = 0; k < NE; ++k) {
    const uint e = tid + k * WG;
    if (e < P * N) cs[base + e] = acc[k];
  }
}

#elif SSD_KERNEL == 3  // ---- state passing --------------------------------------------
void main() {
  const uint e = gl_GlobalInvocationID.x, h = gl_GlobalInvocationID.y, b = gl_GlobalInvocationID.z;
  if (e >= P * N) return;
  const uint pp = e / N, n = e - pp * N, second = p.B * p.nh * p.T;
  const uint sidx = p.st_off + ((b * p.nh + h) * P + pp) * p.st_stride + n;
  float H = st[sidx];
  for (uint c = 0; c < p.nc; ++c) {
    const uint ci = p.cs_off + ((b * p.nh + h) * p.nc + c) * P * N + e;
    const float Sc = cs[ci];
    cs[ci] = H;
    const uint t_last = min(p.T, (c + 1) * p.Q) - 1;
    H = exp(cum[cum_at(b, h, t_last) + second]) * H + Sc;
  }
  st[sidx] = H;
}

#else  // ---- SSD_KERNEL 4: outputs -----------------------------------------------------
const uint NY = (LT * P + gl_WorkGroupSize.x - 1) / gl_WorkGroupSize.x;
shared float Cs[LT * N];
shared float Bs[TS * N];
shared float Xs[TS * P];
shared float Gs[LT * TS];
shared float Al[LT];  // Â of the tile's rows

void main() {
  const uint WG = gl_WorkGroupSize.x, tid = gl_LocalInvocationID.x;
  const uint tiles = (p.Q + LT - 1) / LT;
  const uint c = gl_WorkGroupID.x / tiles, l0 = (gl_WorkGroupID.x - c * tiles) * LT;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint t0 = c * p.Q, L = min(p.Q, p.T - t0);
  if (l0 >= L) return;  // uniform per workgroup
  const uint nl = min(LT, L - l0), gn = (h / p.hpg) * N, second = p.B * p.nh * p.T;
  for (uint e = tid; e < LT * N; e += WG) {
    const uint l = e / N, n = e - l * N;
    Cs[e] = l < nl ? Cm[p.C_off + (b * p.T + t0 + l0 + l) * p.C_stride + gn + n] : 0.0;
  }
  if (tid < LT) Al[tid] = tid < nl ? cum[cum_at(b, h, t0 + l0 + tid) + second] : 0.0;
  float acc[NY];
  for (uint k = 0; k < NY; ++k) acc[k] = 0.0;
  for (uint s0 = 0; s0 < l0 + nl; s0 += TS) {
    const uint ns = min(TS, L - s0);
    barrier();
    for (uint e = tid; e < TS * N; e += WG) {
      const uint s = e / N, n = e - s * N;
      Bs[e] = s < ns ? Bm[p.B_off + (b * p.T + t0 + s0 + s) * p.B_stride + gn + n] : 0.0;
    }
    for (uint e = tid; e < TS * P; e += WG) {
      const uint s = e / P, pp = e - s * P;
      Xs[e] = s < ns ? x[p.x_off + (b * p.T + t0 + s0 + s) * p.x_stride + h * P + pp] : 0.0;
    }
    barrier();
    for (uint e = tid; e < LT * TS; e += WG) {
      const uint l = e / TS, s = e - l * TS;
      float g = 0.0;
      if (l < nl && s < ns && s0 + s <= l0 + l) {
        const uint ts = t0 + s0 + s;
        float cb = 0.0;
        for (uint n = 0; n < N; ++n) cb += Cs[l * N + n] * Bs[s * N + n];
        g = cb * exp(Al[l] - cum[cum_at(b, h, ts) + second]) * cum[cum_at(b, h, ts)];
      }
      Gs[e] = g;
    }
    barrier();
    for (uint k = 0; k < NY; ++k) {
      const uint e = tid + k * WG;
      if (e < LT * P) {
        const uint l = e / P, pp = e - l * P;
        float sum = 0.0;
        for (uint s = 0; s < ns; ++s) sum += Gs[l * TS + s] * Xs[s * P + pp];
        acc[k] += sum;
      }
    }
  }
  const uint hin = p.cs_off + ((b * p.nh + h) * p.nc + c) * P * N;
  const float D = p.has_D != 0 ? Dv[p.D_off + h] : 0.0;
  for (uint k = 0; k < NY; ++k) {
    const uint e = tid + k * WG;
    if (e < LT * P) {
      const uint l = e / P, pp = e - l * P;
      if (l < nl) {
        float yo = 0.0;
        for (uint n = 0; n < N; ++n) yo += cs[hin + pp * N + n] * Cs[l * N + n];
        const uint row = b * p.T + t0 + l0 + l;
        float y = acc[k] + exp(Al[l]) * yo;
        if (p.has_D != 0) y += D * x[p.x_off + row * p.x_stride + h * P + pp];
        o[p.out_off + row * p.out_stride + h * P + pp] = y;
      }
    }
  }
}
#endif
