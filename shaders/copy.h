// copy push constants (shaders/copy.comp, src/vulkan/copy.cpp).
#ifndef KLLENS_SHADERS_COPY_H
#define KLLENS_SHADERS_COPY_H
#include "common.h"
KL_BEGIN_PUSH
struct CopyPush {
  uint rows, cols;           // in 4-byte words
  uint src_off, src_stride;  // binding 0
  uint dst_off, dst_stride;  // binding 1
};
KL_END_PUSH(CopyPush, 6)
#endif
