// ssm_scan push constants (shaders/ssm_scan.comp, src/vulkan/ssm_scan.cpp).
#ifndef KLLENS_SHADERS_SSM_SCAN_H
#define KLLENS_SHADERS_SSM_SCAN_H
#include "common.h"
// Storage-buffer bindings (set 0): the shader's layout(binding = …) and the launcher's
// BindingUse list both name these.
#define SSM_SCAN_BINDING_U 0
#define SSM_SCAN_BINDING_DELTA 1
#define SSM_SCAN_BINDING_A 2
#define SSM_SCAN_BINDING_B 3
#define SSM_SCAN_BINDING_C 4
#define SSM_SCAN_BINDING_D 5
#define SSM_SCAN_BINDING_Z 6
#define SSM_SCAN_BINDING_STATE 7
#define SSM_SCAN_BINDING_OUT 8
KL_BEGIN_PUSH
struct SsmScanPush {
  uint B, T, I, N;           // sequences, tokens, channels, state size (N == spec NS)
  uint u_off, u_stride;      // u [B*T, I]       binding 0
  uint d_off, d_stride;      // delta [B*T, I]   binding 1
  uint A_off, A_stride;      // A [I, N]         binding 2
  uint B_off, B_stride;      // B [B*T, N]       binding 3
  uint C_off, C_stride;      // C [B*T, N]       binding 4
  uint D_off, has_D;         // D [I]            binding 5
  uint z_off, z_stride;      // z [B*T, I]       binding 6
  uint has_z, softplus;
  uint st_off, st_stride;    // state [B, I, N]  binding 7
  uint out_off, out_stride;  // out [B*T, I]     binding 8
};
KL_END_PUSH(SsmScanPush, 24)
#endif
