// rms_norm_gated push constants (shaders/rms_norm_gated.comp, src/vulkan/rms_norm_gated.cpp).
#ifndef KLLENS_SHADERS_RMS_NORM_GATED_H
#define KLLENS_SHADERS_RMS_NORM_GATED_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define RMS_NORM_GATED_BINDING_Y 0
#define RMS_NORM_GATED_BINDING_Z 1
#define RMS_NORM_GATED_BINDING_W 2
#define RMS_NORM_GATED_BINDING_OUT 3
KL_BEGIN_PUSH
struct RmsNormGatedPush {
  uint group_size;           // columns per group (divides the row length)
  float eps;
  uint y_off, y_stride;      // y [n, I], binding 0
  uint z_off, z_stride;      // z [n, I], binding 1
  uint w_off;                // w [I], binding 2
  uint out_off, out_stride;  // out [n, I], binding 3
};
KL_END_PUSH(RmsNormGatedPush, 9)
#endif
