// quantize_weight push constants, shared by both kernels of shaders/quantize_weight.comp
// (QW_KERNEL 0: scales, 1: packing) and src/vulkan/quantize_weight.cpp.
#ifndef KLLENS_SHADERS_QUANTIZE_WEIGHT_H
#define KLLENS_SHADERS_QUANTIZE_WEIGHT_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define QUANTIZE_WEIGHT_BINDING_SRC 0
#define QUANTIZE_WEIGHT_BINDING_SCALE 1
#define QUANTIZE_WEIGHT_BINDING_OUT 2
KL_BEGIN_PUSH
struct QuantizeWeightPush {
  uint N, K;                  // rows (output features), columns (inputs)
  uint qmax;                  // 127 or 7
  uint group;                 // 0: one scale per row (Q8_C / Q4_C); 32 (Q8_0 / Q4_0)
  uint ng;                    // scales per row: 1, or ⌈K/32⌉
  uint type;                  // KL_WTYPE_Q8_C .. KL_WTYPE_Q4_0
  uint src_type;              // KL_WTYPE_F32 / F16 / BF16
  uint src_off, src_stride;   // source [N, K] in its own elements, binding 0 (read as words)
  uint sc_off;                // scales [N, ng] as F32 bits (channel: Weight::scale), binding 1
  uint out_off;               // quantised rows, 32-bit words, binding 2
  uint row_bytes;             // bytes per quantised row
  uint words;                 // words to write: ⌈N · row_bytes / 4⌉
  uint wpr;                   // kernel 1: words per grid row (grid x · workgroup size)
};
KL_END_PUSH(QuantizeWeightPush, 14)
#endif
