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
//   KLLENS_VULKAN_GEMV=cpu|gpu|element|nodot|wg=N|rows=N|split=N|groups=N[,...]  GEMV
//                                 workgroup shape of that device kind or these numbers, the
//                                 element-by-element fallback, and (nodot) the fast matmul
//                                 without packed integer dot products (default: the device
//                                 kind's shape, by 32-blocks, dot products where the device
//                                 has them); rows is the most rows per workgroup, halved
//                                 while N outputs would make fewer than `groups` workgroups
//                                 (groups=1: never)
//   KLLENS_VULKAN_FAULT=oom[:N] | lost[:N]  test hook (VulkanOptions::fault): the N-th
//                                 (from 0) device memory allocation fails as out of device
//                                 memory, or the N-th submission as device lost
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kllens/backend.h"

namespace kllens {

// A device fault a test injects (the runtime's fault hook): the driver's result is replaced
// by VK_ERROR_OUT_OF_DEVICE_MEMORY at a device memory allocation or VK_ERROR_DEVICE_LOST at
// a queue submission, the `fault_after`-th one counted from 0; later ones succeed.
enum class VulkanFault { none, out_of_device_memory, device_lost };

struct VulkanOptions {
  int device_index = -1;   // -1: $KLLENS_VULKAN_DEVICE, else the best GPU, else a CPU device
  bool validation = false; // also on when $KLLENS_VULKAN_VALIDATION is set
  bool profile = false;    // also on when $KLLENS_VULKAN_PROFILE is set
  VulkanFault fault = VulkanFault::none;  // else from $KLLENS_VULKAN_FAULT
  int fault_after = 0;
};

// The device itself failed (out of device memory, device lost): one line naming the fault
// and the call. A command that can redo its work elsewhere catches this one.
class VulkanDeviceError : public Error {
 public:
  using Error::Error;
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

// Work the backend submitted since it was made (a replayed graph counts its dispatches
// each time): dispatches, queue submissions, bytes bound for reading and writing (whole
// binding ranges: a gather such as embed counts its whole table), and host microseconds
// spent recording and submitting (fence waits excluded). Differences of two snapshots
// give per-step figures; `kllens bench --backend vulkan` prints them per decode token.
struct VulkanCounters {
  int64_t dispatches = 0, submits = 0;
  double bytes_read = 0, bytes_written = 0, host_us = 0;
  VulkanCounters operator-(const VulkanCounters& o) const {
    return {dispatches - o.dispatches, submits - o.submits, bytes_read - o.bytes_read,
            bytes_written - o.bytes_written, host_us - o.host_us};
  }
};
// False (and `out` untouched) for a backend that is not Vulkan.
bool vulkan_counters(Backend& backend, VulkanCounters& out);

}  // namespace kllens
