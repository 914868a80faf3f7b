// topk push constants (shaders/topk.comp, src/vulkan/topk.cpp).
#ifndef KLLENS_SHADERS_TOPK_H
#define KLLENS_SHADERS_TOPK_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define TOPK_BINDING_LOGITS 0
#define TOPK_BINDING_VALUES 1
#define TOPK_BINDING_INDICES 2
KL_BEGIN_PUSH
struct TopkPush {
  uint V, K;             // columns, entries kept per row (1 ≤ K ≤ V)
  uint x_off, x_stride;  // logits [n, V], binding 0
  uint v_off;            // values F32 [n, K], binding 1
  uint i_off;            // indices I32 [n, K], binding 2
};
KL_END_PUSH(TopkPush, 6)
#endif
