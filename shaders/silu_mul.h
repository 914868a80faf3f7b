// silu_mul push constants (shaders/silu_mul.comp, src/vulkan/silu_mul.cpp).
#ifndef KLLENS_SHADERS_SILU_MUL_H
#define KLLENS_SHADERS_SILU_MUL_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define SILU_MUL_BINDING_GATE 0
#define SILU_MUL_BINDING_UP 1
#define SILU_MUL_BINDING_OUT 2
KL_BEGIN_PUSH
struct SiluMulPush {
  uint rows, cols;
  uint g_off, g_stride;      // gate [rows, cols], binding 0
  uint u_off, u_stride;      // up [rows, cols], binding 1
  uint out_off, out_stride;  // out [rows, cols], binding 2
};
KL_END_PUSH(SiluMulPush, 8)
#endif
