#version 450
// embed: out[r, k] = table[ids[r], k]        table [V, H] (WTYPE), ids I32 [n], out F32 [n, H]
// Quantised tables are dequantised by weight.glsl (Q8_C / Q4_C scales at binding 3).
// Grid: x over k, y over r. A table too large for one binding is bound in row chunks, one
// dispatch each; a dispatch writes only the rows whose id falls in its chunk. An id outside
// [0, V) writes a row of NaN (in the first chunk) so the error cannot go unnoticed.
#extension GL_GOOGLE_include_directive : require
#include "common.h"
#include "embed.h"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { EmbedPush p; };
#define W_BINDING EMBED_BINDING_TABLE
#define S_BINDING EMBED_BINDING_SCALE
#include "weight.glsl"
layout(std430, binding = EMBED_BINDING_IDS) readonly buffer Ids { int ids[]; };
layout(std430, binding = EMBED_BINDING_OUT) writeonly buffer Out { float o[]; };

void main() {
  const uint k = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
  if (k >= p.H || r >= p.n) return;
  const int id = ids[p.ids_off + r];
  if (id < 0 || uint(id) >= p.V) {
    if (p.v0 == 0) o[p.out_off + r * p.out_stride + k] = uintBitsToFloat(0x7fc00000u);
    return;
  }
  if (uint(id) < p.v0 || uint(id) >= p.v0 + p.vc) return;
  const uint j = uint(id) - p.v0;
  o[p.out_off + r * p.out_stride + k] = weight_at(p.tab_off + j * p.tab_stride, k, j);
}
