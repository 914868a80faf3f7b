// fill push constants (shaders/fill.comp, src/vulkan/fill.cpp).
#ifndef KLLENS_SHADERS_FILL_H
#define KLLENS_SHADERS_FILL_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define FILL_BINDING_TENSOR 0
KL_BEGIN_PUSH
struct FillPush {
  uint rows, cols;           // in 4-byte words
  uint off, stride;          // binding 0
  uint value;                // bit pattern written to every word
};
KL_END_PUSH(FillPush, 5)
#endif
