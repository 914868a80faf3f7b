// conv1d_causal push constants (shaders/conv1d_causal.comp, src/vulkan/conv1d_causal.cpp).
#ifndef KLLENS_SHADERS_CONV1D_CAUSAL_H
#define KLLENS_SHADERS_CONV1D_CAUSAL_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define CONV1D_CAUSAL_BINDING_X 0
#define CONV1D_CAUSAL_BINDING_WEIGHT 1
#define CONV1D_CAUSAL_BINDING_BIAS 2
#define CONV1D_CAUSAL_BINDING_STATE 3
#define CONV1D_CAUSAL_BINDING_OUT 4
KL_BEGIN_PUSH
struct Conv1dPush {
  uint B;          // sequences
  uint T;          // tokens per sequence
  uint C;          // channels
  uint K;          // kernel width (≤ 64)
  uint mode;       // 0: outputs (grid C × rows), 1: state update (grid C × B)
  uint r0;         // mode 0: first row b*T+t of this dispatch
  uint x_off;      // x [B*T, C], binding 0
  uint x_stride;
  uint w_off;      // weight [C, K], binding 1
  uint w_stride;
  uint b_off;      // bias [C], binding 2
  uint has_bias;
  uint st_off;     // state [B, K-1, C], binding 3 (read in mode 0, updated in mode 1)
  uint st_stride;
  uint out_off;    // out [B*T, C], binding 4
  uint out_stride;
  uint silu;
};
KL_END_PUSH(Conv1dPush, 17)
#endif
