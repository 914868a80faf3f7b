// rms_norm / add_rms_norm push constants (shaders/rms_norm.comp, src/vulkan/rms_norm.cpp).
#ifndef KLLENS_SHADERS_RMS_NORM_H
#define KLLENS_SHADERS_RMS_NORM_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define RMS_NORM_BINDING_X 0
#define RMS_NORM_BINDING_DELTA 1
#define RMS_NORM_BINDING_W 2
#define RMS_NORM_BINDING_OUT 3
KL_BEGIN_PUSH
struct RmsNormPush {
  uint H;          // columns
  float eps;
  uint x_off;      // x (add_rms_norm: the residual, updated in place), binding 0
  uint x_stride;
  uint d_off;      // delta (add_rms_norm only), binding 1
  uint d_stride;
  uint w_off;      // weight [H], binding 2
  uint out_off;    // out, binding 3
  uint out_stride;
};
KL_END_PUSH(RmsNormPush, 9)
#endif
