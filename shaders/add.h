// add push constants (shaders/add.comp, src/vulkan/add.cpp).
#ifndef KLLENS_SHADERS_ADD_H
#define KLLENS_SHADERS_ADD_H
#include "common.h"
KL_BEGIN_PUSH
struct AddPush {
  uint rows, cols;
  uint a_off, a_stride;      // binding 0
  uint b_off, b_stride;      // binding 1
  uint out_off, out_stride;  // binding 2
};
KL_END_PUSH(AddPush, 8)
#endif
