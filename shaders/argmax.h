// argmax push constants (shaders/argmax.comp, src/vulkan/argmax.cpp).
#ifndef KLLENS_SHADERS_ARGMAX_H
#define KLLENS_SHADERS_ARGMAX_H
#include "common.h"
KL_BEGIN_PUSH
struct ArgmaxPush {
  uint V;                // columns
  uint x_off, x_stride;  // logits [n, V], binding 0
  uint out_off;          // out I32 [n], binding 1
};
KL_END_PUSH(ArgmaxPush, 4)
#endif
