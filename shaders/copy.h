// copy push constants (shaders/copy.comp, src/vulkan/copy.cpp).
#ifndef KLLENS_SHADERS_COPY_H
#define KLLENS_SHADERS_COPY_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define COPY_BINDING_SRC 0
#define COPY_BINDING_DST 1
KL_BEGIN_PUSH
struct CopyPush {
  uint rows, cols;           // in 4-byte words
  uint src_off, src_stride;  // binding 0
  uint dst_off, dst_stride;  // binding 1
};
KL_END_PUSH(CopyPush, 6)
#endif
