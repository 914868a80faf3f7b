#version 450
// kl_reduce: per token r, one pass over the vocabulary comparing teacher logits zt with
// student logits zs (p = softmax(zt), q = softmax(zs)); out[r, :] (kKlStats = 8) =
//   { KL(p‖q), KL(q‖p), −log p[y], −log q[y], Σ(zs−zt)², Σ zt², argmax zs == argmax zt, ΔCE }
// with y = targets[r] (y < 0, or y ≥ V: the three CE columns 0) and ΔCE = −log q[y] + log p[y]
// = log E_p[e^d] − d[y], taken from the cancellation-free log E_p[e^d] = log1p(x0 + x2)
// (below) rather than as the difference of the two CE columns.
//
// Precision (all fp32). The textbook form KL(p‖q) = E_p[zt−zs] − (lse_t − lse_s) subtracts
// two O(|zs−zt|) numbers to get an O(|zs−zt|²) one: fp32 log-sum-exps (error ~1e-6 at
// lse ≈ 15) would swamp the KL of an 8-bit probe (~1e-5). Instead, with u = zs − zt,
// d = u − c for a per-row constant c = u[0] (so d is small where the two models agree),
//   KL(p‖q) = log E_p[e^d] − E_p[d] = x2 + log1pmx(x0 + x2),
//   x0 = E_p[d],  x2 = E_p[expm1mx(d)],  expm1mx(d) = e^d − 1 − d ≥ 0,  log1pmx(y) = log(1+y) − y,
// where expm1mx and log1pmx are evaluated by series near 0, so no term cancels at first
// order; KL(q‖p) likewise with E_q and −d. Far from agreement (|x0 + x2| ≥ 1/4) the KL is
// L − x0 with L = log E_p[e^d] = (ms − mt − c) + log(Ws/Wt) from the two log-sum-exps. The expectations are online: per side a running
// max m, W = Σ e^{z−m}, E0 = Σ e^{z−m}·(±d), E2 = Σ e^{z−m}·expm1mx(±d), rescaled by
// e^{m_old − m_new} when the max grows. CE = (m − z[y]) + log W. Requires |d| < 88.
// The running maxima are the argmaxes (strict greater: the first index wins, as the CPU).
//
// One workgroup per row: per-thread strided partials, then a tree reduction in shared
// memory merging (m, W, E0, E2, index) pairs of both sides and the two plain sums.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "kl_reduce.h"
#include "math.glsl"

layout(local_size_x_id = 0) in;  // power of two
layout(push_constant) uniform Push { KlReducePush p; };
layout(std430, binding = KL_REDUCE_BINDING_TEACHER) readonly buffer Zt { float zt[]; };
layout(std430, binding = KL_REDUCE_BINDING_STUDENT) readonly buffer Zs { float zs[]; };
layout(std430, binding = KL_REDUCE_BINDING_TARGETS) readonly buffer Y { int tgt[]; };
layout(std430, binding = KL_REDUCE_BINDING_OUT) writeonly buffer Out { float o[]; };

const uint kNone = 0xffffffffu;

// One side's online expectation state.
struct Side {
  float m, W, E0, E2;
  uint idx;
};

// e^x − 1 − x without cancellation: series for |x| < 1/4 (to x^11/11!), else directly.
float expm1mx(float x) {
  if (abs(x) >= 0.25) return (exp(x) - 1.0) - x;
  float t = 1.0 / 39916800.0;
  t = t * x + 1.0 / 3628800.0;
  t = t * x + 1.0 / 362880.0;
  t = t * x + 1.0 / 40320.0;
  t = t * x + 1.0 / 5040.0;
  t = t * x + 1.0 / 720.0;
  t = t * x + 1.0 / 120.0;
  t = t * x + 1.0 / 24.0;
  t = t * x + 1.0 / 6.0;
  t = t * x + 0.5;
  return (x * x) * t;
}

// log(1 + y) − y without cancellation: for |y| < 1/4, with s = y/(2+y) (|s| < 1/7),
// log(1+y) = 2·atanh(s) and y − 2s = y·s, so log(1+y) − y = −y·s + 2s³(1/3 + s²/5 + …).
float log1pmx(float y) {
  if (abs(y) >= 0.25) return log(1.0 + y) - y;
  const float s = y / (2.0 + y), s2 = s * s;
  float t = 1.0 / 15.0;
  t = t * s2 + 1.0 / 13.0;
  t = t * s2 + 1.0 / 11.0;
  t = t * s2 + 1.0 / 9.0;
  t = t * s2 + 1.0 / 7.0;
  t = t * s2 + 1.0 / 5.0;
  t = t * s2 + 1.0 / 3.0;
  return 2.0 * (s * s2) * t - y * s;
}

void side_add(inout Side a, float z, float d, uint k) {
  if (z > a.m) {
    const float f = a.m == kNegInf ? 0.0 : exp(a.m - z);
    a.W *= f;
    a.E0 *= f;
    a.E2 *= f;
    a.m = z;
    a.idx = k;
  }
  const float e = exp(z - a.m);
  a.W += e;
  a.E0 += e * d;
  a.E2 += e * expm1mx(d);
}

Side side_merge(Side a, Side b) {
  const float m = max(a.m, b.m);
  if (m == kNegInf) return a;
  const float fa = a.m == kNegInf ? 0.0 : exp(a.m - m), fb = b.m == kNegInf ? 0.0 : exp(b.m - m);
  Side r;
  r.m = m;
  r.W = a.W * fa + b.W * fb;
  r.E0 = a.E0 * fa + b.E0 * fb;
  r.E2 = a.E2 * fa + b.E2 * fb;
  r.idx = b.m > a.m || (b.m == a.m && b.idx < a.idx) ? b.idx : a.idx;
  return r;
}

// KL of the side's distribution against the other's, given L = log E[e^{±d}] in its
// log-sum-exp form (below): near agreement (|y| < 1/4, y = x0 + x2 = E[e^{±d}] − 1) the
// cancellation-free x2 + log1pmx(y); otherwise L − x0, where the KL is no longer small
// against the rounding of L and a large d (a flipped top token) cannot cancel x2 away.
float side_kl(Side a, float L) {
  const float x0 = a.E0 / a.W, x2 = a.E2 / a.W, y = x0 + x2;
  return abs(y) < 0.25 ? x2 + log1pmx(y) : L - x0;
}

shared Side st[gl_WorkGroupSize.x], ss[gl_WorkGroupSize.x];
shared vec2 sums[gl_WorkGroupSize.x];

void main() {
  const uint r = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  const uint tr = p.t_off + r * p.t_stride, sr = p.s_off + r * p.s_stride;
  const float c = zs[sr] - zt[tr];
  Side t = Side(kNegInf, 0.0, 0.0, 0.0, kNone), s = t;
  float sq = 0.0, tt = 0.0;
  for (uint k = tid; k < p.V; k += WG) {
    const float a = zt[tr + k], b = zs[sr + k];
    const float u = b - a, d = u - c;
    side_add(t, a, d, k);
    side_add(s, b, -d, k);
    sq += u * u;
    tt += a * a;
  }
  st[tid] = t;
  ss[tid] = s;
  sums[tid] = vec2(sq, tt);
  barrier();
  for (uint h = WG / 2; h > 0; h >>= 1) {
    if (tid < h) {
      st[tid] = side_merge(st[tid], st[tid + h]);
      ss[tid] = side_merge(ss[tid], ss[tid + h]);
      sums[tid] += sums[tid + h];
    }
    barrier();
  }
  if (tid == 0) {
    t = st[0];
    s = ss[0];
    const uint orow = p.out_off + r * p.out_stride;
    // log E_p[e^d] = lse_s − lse_t − c = −log E_q[e^−d]
    const float L = ((s.m - t.m) - c) + log(s.W / t.W);
    o[orow + 0] = side_kl(t, L);
    o[orow + 1] = side_kl(s, -L);
    const int y = tgt[p.y_off + r];
    const bool has_y = y >= 0 && uint(y) < p.V;
    const float zty = has_y ? zt[tr + uint(y)] : 0.0, zsy = has_y ? zs[sr + uint(y)] : 0.0;
    o[orow + 2] = has_y ? (t.m - zty) + log(t.W) : 0.0;
    o[orow + 3] = has_y ? (s.m - zsy) + log(s.W) : 0.0;
    o[orow + 4] = sums[0].x;
    o[orow + 5] = sums[0].y;
    const uint it = t.idx == kNone ? 0u : t.idx, is = s.idx == kNone ? 0u : s.idx;
    o[orow + 6] = it == is ? 1.0 : 0.0;
    const float yt = (t.E0 + t.E2) / t.W;  // E_p[e^d] − 1
    const float Lp = abs(yt) < 0.25 ? yt + log1pmx(yt) : L;
    o[orow + 7] = has_y ? Lp - ((zsy - zty) - c) : 0.0;
  }
}
