#version 450
// attention: causal grouped-query attention over a KV cache with a sliding window and an
// always-visible prefix (AttentionArgs in include/kllens/backend.h). Query t of sequence b
// sits at position i = past + t and sees key j when
//   j ≤ i  and  (window == 0 or i − j ≤ window or j < meta),
// key j living in slot  j < meta ? j : meta + (j − meta) mod (cap − meta).
//   out[t, h, :] = Σ_j softmax_j(scale · q[t,h]·K[j,h/g]) · V[j,h/g]
//
// Tiled with online softmax (flash-attention style); no score matrix beyond one
// BR × BC tile exists. A workgroup takes one kv head of one sequence and BR "rows", a row
// being a (query t, q head of that kv head's group) pair, row = t·g + h_local — so the g
// heads sharing a kv head share every K/V tile (a decode step, T = 1, fills g rows).
// Per key tile of BC keys: K tile → shared, S = scale·Q Kᵀ (fp32 dot products in order,
// masked to −inf), per row m_new = max(m, max S), P = exp(S − m_new), l ← l·e^{m−m_new} + ΣP;
// V tile → shared (same memory as K), O ← O·e^{m−m_new} + P V (O in registers, fp32).
// out = O / l. Key tiles cover only [0, min(meta, lo)) ∪ [lo, i_last] with
// lo = max(0, i_first − window): keys outside every row's window are never read.
// Grid: x = ⌈T·g / BR⌉, y = kv heads, z = sequences.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "attention.h"
#include "math.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BR = 16;   // rows per workgroup
layout(constant_id = 2) const uint BC = 32;   // keys per tile
layout(constant_id = 3) const uint HD = 64;   // q/k head dim
layout(constant_id = 4) const uint VHD = 64;  // v head dim
layout(push_constant) uniform Push { AttentionPush p; };
layout(std430, binding = ATTENTION_BINDING_Q) readonly buffer Q { float q[]; };
layout(std430, binding = ATTENTION_BINDING_K_CACHE) readonly buffer K { float kc[]; };
layout(std430, binding = ATTENTION_BINDING_V_CACHE) readonly buffer V { float vc[]; };
layout(std430, binding = ATTENTION_BINDING_OUT) writeonly buffer Out { float o[]; };

const uint KVD = HD > VHD ? HD : VHD;
const uint NO = (BR * VHD + gl_WorkGroupSize.x - 1) / gl_WorkGroupSize.x;  // O entries per thread

shared float Qs[BR * HD];
shared float KVs[BC * KVD];   // the K tile, then the V tile
shared float Ss[BR * BC];     // scores, then probabilities
shared float m_s[BR], l_s[BR], a_s[BR];

uint slot(uint j) { return j < p.meta ? j : p.meta + (j - p.meta) % (p.cap - p.meta); }

void main() {
  const uint WG = gl_WorkGroupSize.x, tid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * BR, hk = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint rows = p.T * p.g;
  const uint last = min(row0 + BR, rows) - 1;
  const int i_first = int(p.past + row0 / p.g), i_last = int(p.past + last / p.g);
  const int lo = p.window > 0 ? max(0, i_first - int(p.window)) : 0;

  for (uint e = tid; e < BR * HD; e += WG) {
    const uint r = e / HD, d = e - r * HD, row = row0 + r;
    float v = 0.0;
    if (row < rows) {
      const uint t = row / p.g, h = hk * p.g + (row - t * p.g);
      v = q[p.q_off + (b * p.T + t) * p.q_stride + h * HD + d];
    }
    Qs[e] = v;
  }
  if (tid < BR) {
    m_s[tid] = kNegInf;
    l_s[tid] = 0.0;
  }
  float acc[NO];
  for (uint n = 0; n < NO; ++n) acc[n] = 0.0;

  for (uint range = 0; range < 2; ++range) {
    const int jb = range == 0 ? 0 : lo;
    const int je = range == 0 ? min(int(p.meta), lo) : i_last + 1;
    for (int j0 = jb; j0 < je; j0 += int(BC)) {
      const uint nk = uint(min(int(BC), je - j0));
      barrier();  // the previous tile's V and P are consumed
      for (uint e = tid; e < BC * HD; e += WG) {
        const uint jj = e / HD, d = e - jj * HD;
        KVs[e] = jj < nk ? kc[p.k_off + (b * p.cap + slot(uint(j0) + jj)) * p.k_stride + hk * HD + d] : 0.0;
      }
      barrier();
      for (uint e = tid; e < BR * BC; e += WG) {
        const uint r = e / BC, jj = e - r * BC, row = row0 + r;
        const int i = int(p.past + row / p.g), j = j0 + int(jj);
        const bool visible = row < rows && jj < nk && j <= i &&
                             (p.window == 0 || i - j <= int(p.window) || j < int(p.meta));
        float s = kNegInf;
        if (visible) {
          float dot = 0.0;
          for (uint d = 0; d < HD; ++d) dot += Qs[r * HD + d] * KVs[jj * HD + d];
          s = dot * p.scale;
        }
        Ss[e] = s;
      }
      barrier();
      for (uint e = tid; e < BC * VHD; e += WG) {
        const uint jj = e / VHD, d = e - jj * VHD;
        KVs[e] = jj < nk ? vc[p.v_off + (b * p.cap + slot(uint(j0) + jj)) * p.v_stride + hk * VHD + d] : 0.0;
      }
      if (tid < BR) {
        const float m_old = m_s[tid];
        float m_new = m_old;
        for (uint jj = 0; jj < BC; ++jj) m_new = max(m_new, Ss[tid * BC + jj]);
        float sum = 0.0;
        for (uint jj = 0; jj < BC; ++jj) {
          const float s = Ss[tid * BC + jj];
          const float pr = s == kNegInf ? 0.0 : exp(s - m_new);
          Ss[tid * BC + jj] = pr;
          sum += pr;
        }
        const float alpha = m_old == kNegInf ? 0.0 : exp(m_old - m_new);
        l_s[tid] = l_s[tid] * alpha + sum;
        m_s[tid] = m_new;
        a_s[tid] = alpha;
      }
      barrier();
      for (uint n = 0; n < NO; ++n) {
        const uint e = tid + n * WG;
        if (e < BR * VHD) {
          const uint r = e / VHD, d = e - r * VHD;
          float s = 0.0;
          for (uint jj = 0; jj < nk; ++jj) s += Ss[r * BC + jj] * KVs[jj * VHD + d];
          acc[n] = acc[n] * a_s[r] + s;
        }
      }
    }
  }
  barrier();
  for (uint n = 0; n < NO; ++n) {
    const uint e = tid + n * WG;
    if (e < BR * VHD) {
      const uint r = e / VHD, d = e - r * VHD, row = row0 + r;
      if (row < rows) {
        const uint t = row / p.g, h = hk * p.g + (row - t * p.g);
        o[p.out_off + (b * p.T + t) * p.out_stride + h * VHD + d] = acc[n] / l_s[r];
      }
    }
  }
}
