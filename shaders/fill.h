// fill push constants (shaders/fill.comp, src/vulkan/fill.cpp).
#ifndef KLLENS_SHADERS_FILL_H
#define KLLENS_SHADERS_FILL_H
#include "common.h"
KL_BEGIN_PUSH
struct FillPush {
  uint rows, cols;           // in 4-byte words
  uint off, stride;          // binding 0
  uint value;                // bit pattern written to every word
};
KL_END_PUSH(FillPush, 5)
#endif
