// ssd_scan push constants, shared by the five kernels of shaders/ssd_scan.comp
// (SSD_KERNEL 0..4) and src/vulkan/ssd_scan.cpp. P (head dim) and N (state size) are
// specialization constants.
#ifndef KLLENS_SHADERS_SSD_SCAN_H
#define KLLENS_SHADERS_SSD_SCAN_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define SSD_SCAN_BINDING_X 0
#define SSD_SCAN_BINDING_DT 1
#define SSD_SCAN_BINDING_DT_BIAS 2
#define SSD_SCAN_BINDING_A 3
#define SSD_SCAN_BINDING_B 4
#define SSD_SCAN_BINDING_C 5
#define SSD_SCAN_BINDING_D 6
#define SSD_SCAN_BINDING_STATE 7
#define SSD_SCAN_BINDING_OUT 8
#define SSD_SCAN_BINDING_CUM 9
#define SSD_SCAN_BINDING_CHUNK_STATE 10
KL_BEGIN_PUSH
struct SsdScanPush {
  uint B, T, nh, hpg;        // sequences, tokens, heads, heads per group of B/C
  uint Q, nc;                // chunk length, chunks per sequence
  float dt_min, dt_max;
  uint x_off, x_stride;      // x [B*T, nh*P], binding 0
  uint dt_off, dt_stride;    // dt [B*T, nh], binding 1
  uint bias_off;             // dt_bias [nh], binding 2
  uint A_off;                // A [nh], binding 3
  uint B_off, B_stride;      // B [B*T, G*N], binding 4
  uint C_off, C_stride;      // C [B*T, G*N], binding 5
  uint D_off, has_D;         // D [nh], binding 6
  uint st_off, st_stride;    // state [B*nh*P, N], binding 7
  uint out_off, out_stride;  // out [B*T, nh*P], binding 8
  uint cum_off;              // scratch [2, B*nh*T]: Δ, then the chunk-local cumsum Â, binding 9
  uint cs_off;               // scratch [B*nh*nc, P*N]: chunk states, then the state entering
                             //   each chunk, binding 10
};
KL_END_PUSH(SsdScanPush, 26)
#endif
