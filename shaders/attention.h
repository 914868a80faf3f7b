// attention push constants (shaders/attention.comp, src/vulkan/attention.cpp).
#ifndef KLLENS_SHADERS_ATTENTION_H
#define KLLENS_SHADERS_ATTENTION_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define ATTENTION_BINDING_Q 0
#define ATTENTION_BINDING_K_CACHE 1
#define ATTENTION_BINDING_V_CACHE 2
#define ATTENTION_BINDING_OUT 3
KL_BEGIN_PUSH
struct AttentionPush {
  uint T, past;              // queries per sequence; query t is at position past + t
  uint g;                    // q heads per kv head (nh / nkv)
  uint window, meta;         // sliding window (0: none), always-visible prefix
  uint cap;                  // cache slots per sequence
  float scale;
  uint q_off, q_stride;      // q [B*T, nh*hd], binding 0
  uint k_off, k_stride;      // k_cache [B*cap, nkv*hd], binding 1
  uint v_off, v_stride;      // v_cache [B*cap, nkv*vhd], binding 2
  uint out_off, out_stride;  // out [B*T, nh*vhd], binding 3
};
KL_END_PUSH(AttentionPush, 15)
#endif
