// kl_reduce push constants (shaders/kl_reduce.comp, src/vulkan/kl_reduce.cpp).
#ifndef KLLENS_SHADERS_KL_REDUCE_H
#define KLLENS_SHADERS_KL_REDUCE_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define KL_REDUCE_BINDING_TEACHER 0
#define KL_REDUCE_BINDING_STUDENT 1
#define KL_REDUCE_BINDING_TARGETS 2
#define KL_REDUCE_BINDING_OUT 3
KL_BEGIN_PUSH
struct KlReducePush {
  uint V;                    // vocabulary (columns)
  uint t_off, t_stride;      // teacher logits [n, V], binding 0
  uint s_off, s_stride;      // student logits [n, V], binding 1
  uint y_off;                // targets I32 [n], binding 2
  uint out_off, out_stride;  // out F32 [n, 8], binding 3
};
KL_END_PUSH(KlReducePush, 8)
#endif
