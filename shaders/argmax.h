// argmax push constants (shaders/argmax.comp, src/vulkan/argmax.cpp).
#ifndef KLLENS_SHADERS_ARGMAX_H
#define KLLENS_SHADERS_ARGMAX_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define ARGMAX_BINDING_LOGITS 0
#define ARGMAX_BINDING_OUT 1
KL_BEGIN_PUSH
struct ArgmaxPush {
  uint V;                // columns
  uint x_off, x_stride;  // logits [n, V], binding 0
  uint out_off;          // out I32 [n], binding 1
};
KL_END_PUSH(ArgmaxPush, 4)
#endif
