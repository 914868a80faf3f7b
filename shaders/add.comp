#version 450
// add: out[r, c] = a[r, c] + b[r, c]      a, b, out F32 [rows, cols], strided rows.
// Grid: x over columns, y over rows.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "add.h"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { AddPush p; };
layout(std430, binding = ADD_BINDING_A) readonly buffer A { float a[]; };
layout(std430, binding = ADD_BINDING_B) readonly buffer Bb { float b[]; };
layout(std430, binding = ADD_BINDING_OUT) writeonly buffer Out { float o[]; };

void main() {
  const uint c = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
  if (c >= p.cols || r >= p.rows) return;
  o[p.out_off + r * p.out_stride + c] = a[p.a_off + r * p.a_stride + c] + b[p.b_off + r * p.b_stride + c];
}
