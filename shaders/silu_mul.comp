#version 450
// silu_mul (SwiGLU): out[r, c] = silu(gate[r, c]) · up[r, c],  silu(v) = v / (1 + e^-v).
// gate, up, out F32 [rows, cols], strided rows. Grid: x over columns, y over rows.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "silu_mul.h"
#include "math.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { SiluMulPush p; };
layout(std430, binding = SILU_MUL_BINDING_GATE) readonly buffer G { float g[]; };
layout(std430, binding = SILU_MUL_BINDING_UP) readonly buffer U { float u[]; };
layout(std430, binding = SILU_MUL_BINDING_OUT) writeonly buffer Out { float o[]; };

void main() {
  const uint c = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
  if (c >= p.cols || r >= p.rows) return;
  o[p.out_off + r * p.out_stride + c] =
      silu(g[p.g_off + r * p.g_stride + c]) * u[p.u_off + r * p.u_stride + c];
}
