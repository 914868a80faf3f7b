// add push constants (shaders/add.comp, src/vulkan/add.cpp).
#ifndef KLLENS_SHADERS_ADD_H
#define KLLENS_SHADERS_ADD_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define ADD_BINDING_A 0
#define ADD_BINDING_B 1
#define ADD_BINDING_OUT 2
KL_BEGIN_PUSH
struct AddPush {
  uint rows, cols;
  uint a_off, a_stride;      // binding 0
  uint b_off, b_stride;      // binding 1
  uint out_off, out_stride;  // binding 2
};
KL_END_PUSH(AddPush, 8)
#endif
