// embed push constants (shaders/embed.comp, src/vulkan/embed.cpp).
#ifndef KLLENS_SHADERS_EMBED_H
#define KLLENS_SHADERS_EMBED_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define EMBED_BINDING_TABLE 0
#define EMBED_BINDING_IDS 1
#define EMBED_BINDING_OUT 2
#define EMBED_BINDING_SCALE 3  // per-row scales of Q8_C / Q4_C tables
KL_BEGIN_PUSH
struct EmbedPush {
  uint n;          // ids / output rows
  uint H;          // columns
  uint V;          // rows of the whole table (ids outside [0, V) give NaN rows)
  uint v0;         // first table row bound in this dispatch (tables beyond
  uint vc;         //   maxStorageBufferRange are bound in row chunks [v0, v0+vc))
  uint tab_off;    // offset of row v0 in binding 0, and row stride (elements for plain
  uint tab_stride; //   types, bytes for quantised ones)
  uint ids_off;    // element offset of ids in binding 1
  uint out_off;    // element offset and row stride of out in binding 2
  uint out_stride;
  uint s_off;      // per-row scales of rows [v0, v0+vc) (Q8_C, Q4_C), binding 3
};
KL_END_PUSH(EmbedPush, 11)
#endif
