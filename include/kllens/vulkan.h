// The Vulkan backend: every Backend op as a GLSL compute kernel (shaders/), recorded into a
// command stream and submitted on sync() / download().
//
// Environment:
//   KLLENS_VULKAN_DEVICE=N        device index (as list_vulkan_devices() numbers them)
//   KLLENS_VULKAN_VALIDATION=1    Khronos validation layer + synchronisation validation;
//                                 any warning or error makes the next sync() throw
//   KLLENS_VULKAN_PROFILE=1       per-kernel GPU timestamps (vulkan_profile_report)
//   KLLENS_VULKAN_FORCE_STAGING=1 upload/download through staging buffers even on unified
//                                 memory (tests the discrete-GPU path)
//   KLLENS_VULKAN_SUBGROUP=N      subgroup size required of GEMV and row reductions (0: the
//                                 driver's; default 16 on Intel, none elsewhere but CPU devices)
//   KLLENS_VULKAN_SUBGROUP_REDUCE=0  GEMV reduces through shared memory only, not subgroupAdd
//   KLLENS_VULKAN_GEMM_THREADS=8|16  threads per side of the 64×64 GEMM tile (default 8 on
//                                 CPU devices, 16 on GPUs)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kllens/backend.h"

namespace kllens {

struct VulkanOptions {
  int device_index = -1;   // -1: $KLLENS_VULKAN_DEVICE, else the best GPU, else a CPU device
  bool validation = false; // also on when $KLLENS_VULKAN_VALIDATION is set
  bool profile = false;    // also on when $KLLENS_VULKAN_PROFILE is set
};

// Throws kllens::Error (one line) when there is no usable Vulkan device.
std::unique_ptr<Backend> make_vulkan_backend(int device_index = -1);
std::unique_ptr<Backend> make_vulkan_backend(const VulkanOptions& options);

// "index: name (type, Vulkan x.y.z)" for every device; throws if there is no driver.
std::vector<std::string> list_vulkan_devices();

// For a backend made by make_vulkan_backend (throws otherwise):
// the chosen device and its features in one line,
std::string vulkan_device_summary(Backend& backend);
// the driver's name and version ("llvmpipe Mesa 22.3.6 (LLVM 15.0.6)"),
std::string vulkan_driver(Backend& backend);
// warnings and errors the validation layer reported so far (0 when validation is off),
int vulkan_validation_messages(Backend& backend);
// and, in profile mode, GPU time per kernel since the start, one kernel per line.
std::string vulkan_profile_report(Backend& backend);

}  // namespace kllens
