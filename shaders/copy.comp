#version 450
// copy: dst[r, c] = src[r, c] for 4-byte elements (F32, I32) moved as raw bits, strided
// rows on both sides. Grid: x over columns, y over rows.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "copy.h"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { CopyPush p; };
layout(std430, binding = COPY_BINDING_SRC) readonly buffer Src { uint s[]; };
layout(std430, binding = COPY_BINDING_DST) writeonly buffer Dst { uint d[]; };

void main() {
  const uint c = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
  if (c >= p.cols || r >= p.rows) return;
  d[p.dst_off + r * p.dst_stride + c] = s[p.src_off + r * p.src_stride + c];
}
