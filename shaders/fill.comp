#version 450
// fill: t[r, c] = value (a 4-byte bit pattern; fill_zero passes 0), strided rows.
// Grid: x over columns (words), y over rows.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "fill.h"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { FillPush p; };
layout(std430, binding = FILL_BINDING_TENSOR) writeonly buffer T { uint t[]; };

void main() {
  const uint c = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
  if (c >= p.cols || r >= p.rows) return;
  t[p.off + r * p.stride + c] = p.value;
}
