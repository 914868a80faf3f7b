// rope push constants (shaders/rope.comp, src/vulkan/rope.cpp).
#ifndef KLLENS_SHADERS_ROPE_H
#define KLLENS_SHADERS_ROPE_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define ROPE_BINDING_X 0
#define ROPE_BINDING_INV_FREQ 1
KL_BEGIN_PUSH
struct RopePush {
  uint rows;             // B*T rows in this dispatch
  uint row0;             // index of the first of them in the whole [B*T] tensor
  uint T, past;          // tokens per sequence; position of token t is past + t
  uint heads, hhd;       // heads per row, half the head dim (hd / 2)
  uint x_off, x_stride;  // x [B*T, heads*hd], binding 0, rotated in place
  uint f_off;            // inv_freq [hd/2], binding 1
};
KL_END_PUSH(RopePush, 9)
#endif
