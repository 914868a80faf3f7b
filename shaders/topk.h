// topk push constants (shaders/topk.comp, src/vulkan/topk.cpp).
#ifndef KLLENS_SHADERS_TOPK_H
#define KLLENS_SHADERS_TOPK_H
#include "common.h"
KL_BEGIN_PUSH
struct TopkPush {
  uint V, K;             // columns, entries kept per row (1 ≤ K ≤ V)
  uint x_off, x_stride;  // logits [n, V], binding 0
  uint v_off;            // values F32 [n, K], binding 1
  uint i_off;            // indices I32 [n, K], binding 2
};
KL_END_PUSH(TopkPush, 6)
#endif
