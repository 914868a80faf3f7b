#version 450
// topk: the K largest entries of each row, best first; equal values by the lower index,
// NaN below every number (src/cpu/topk.h states the order; the CPU reference defines it).
//
// One workgroup per row; thread t owns columns t, t + WG, ... and keeps its candidate: its
// best column among those not yet taken. Each of the K rounds reduces the candidates in
// shared memory to the winner, writes it out, and only the thread that owned the winner
// rescans its columns for the next candidate. So a row costs one full read plus K reads
// of V/WG columns, not K full reads.
//
// The order is computed on integer keys, not floats, so that it does not depend on how a
// driver treats NaN in float compares: key = 0 for NaN, otherwise the float's bits mapped
// to an unsigned integer that increases with the value (−0 taken as +0, as the CPU's ==
// does). Larger key first, then lower index.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "topk.h"

layout(local_size_x_id = 0) in;  // power of two
layout(push_constant) uniform Push { TopkPush p; };
layout(std430, binding = TOPK_BINDING_LOGITS) readonly buffer X { float x[]; };
layout(std430, binding = TOPK_BINDING_VALUES) writeonly buffer Values { float ov[]; };
layout(std430, binding = TOPK_BINDING_INDICES) writeonly buffer Indices { int oi[]; };

shared uint sk[gl_WorkGroupSize.x];
shared uint si[gl_WorkGroupSize.x];

const uint kNone = 0xffffffffu;  // "no candidate": ranks after every column (index ≥ V)

uint order_key(float v) {
  uint u = floatBitsToUint(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0u;  // NaN
  if (u == 0x80000000u) u = 0u;                    // −0 → +0
  return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

bool before(uint ka, uint ia, uint kb, uint ib) { return ka > kb || (ka == kb && ia < ib); }

void main() {
  const uint r = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  const uint xr = p.x_off + r * p.x_stride;
  // Candidate: the best owned column after the last pick (pk, pi); none taken at first.
  uint ck = 0u, ci = kNone;
  for (uint c = tid; c < p.V; c += WG) {
    const uint k = order_key(x[xr + c]);
    if (before(k, c, ck, ci)) { ck = k; ci = c; }
  }
  for (uint j = 0; j < p.K; ++j) {
    sk[tid] = ck;
    si[tid] = ci;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
      if (tid < s && before(sk[tid + s], si[tid + s], sk[tid], si[tid])) {
        sk[tid] = sk[tid + s];
        si[tid] = si[tid + s];
      }
      barrier();
    }
    const uint pk = sk[0], pi = si[0];  // K ≤ V: always a real column
    if (tid == 0) {
      ov[p.v_off + r * p.K + j] = x[xr + pi];
      oi[p.i_off + r * p.K + j] = int(pi);
    }
    if (ci == pi) {  // this thread's candidate was taken: find its next one
      ck = 0u;
      ci = kNone;
      for (uint c = tid; c < p.V; c += WG) {
        const uint k = order_key(x[xr + c]);
        if (before(pk, pi, k, c) && before(k, c, ck, ci)) { ck = k; ci = c; }
      }
    }
    barrier();  // everyone has read sk[0], si[0] before the next round overwrites them
  }
}
