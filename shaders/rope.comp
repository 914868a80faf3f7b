#version 450
// rope: rotary embedding in place, NeoX rotate-half form (dim d pairs with d + hd/2).
// Token t of sequence b (row b*T + t) sits at position pos = past + t; for pair k < hd/2
//   ang = float(pos) · inv_freq[k]                          (fp32 product, as HF)
//   x[d]      ← x[d] · cos(ang) − x[d+hd/2] · sin(ang)
//   x[d+hd/2] ← x[d+hd/2] · cos(ang) + x[d] · sin(ang)
// One thread per (pair, head, row): grid x over heads·hd/2, y over rows.
// sin/cos are computed here, not with GLSL's sin/cos, whose precision Vulkan leaves
// undefined outside [−π, π]: Cody–Waite reduction by π/2 in three parts (k·P1 exact for
// |k| < 2^16, k·P2 exact for |k| < 2^11, i.e. |ang| < 3217; beyond that the reduction
// error grows to ~ulp(k·P2), 2.4e-7 at |ang| = 12868), then Cephes' sinf/cosf minimax
// polynomials on [−π/4, π/4] (≈ 1 ulp).
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "rope.h"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { RopePush p; };
layout(std430, binding = ROPE_BINDING_X) buffer X { float x[]; };
layout(std430, binding = ROPE_BINDING_INV_FREQ) readonly buffer F { float inv_freq[]; };

void sincos_acc(float a, out float s, out float c) {
  const float k = roundEven(a * 0.63661977236758134);  // a / (π/2)
  precise float r = a - k * 1.5703125;
  r = r - k * 4.837512969970703125e-4;
  r = r - k * 7.54978995489188216e-8;
  const float r2 = r * r;
  const float sp = ((-1.9515295891e-4 * r2 + 8.3321608736e-3) * r2 - 1.6666654611e-1) * (r2 * r) + r;
  const float cp =
      ((2.443315711809948e-5 * r2 - 1.388731625493765e-3) * r2 + 4.166664568298827e-2) * (r2 * r2) -
      0.5 * r2 + 1.0;
  const uint q = uint(int(k)) & 3u;
  s = q == 0u ? sp : q == 1u ? cp : q == 2u ? -sp : -cp;
  c = q == 0u ? cp : q == 1u ? -sp : q == 2u ? -cp : sp;
}

void main() {
  const uint i = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
  if (i >= p.heads * p.hhd || r >= p.rows) return;
  const uint h = i / p.hhd, k = i - h * p.hhd;
  const uint row = p.row0 + r, t = row % p.T;
  const float ang = float(p.past + t) * inv_freq[p.f_off + k];
  float s, c;
  sincos_acc(ang, s, c);
  const uint e = p.x_off + r * p.x_stride + h * 2u * p.hhd + k;
  const float x1 = x[e], x2 = x[e + p.hhd];
  x[e] = x1 * c - x2 * s;
  x[e + p.hhd] = x2 * c + x1 * s;
}
