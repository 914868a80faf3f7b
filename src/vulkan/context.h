// The Vulkan instance, the chosen physical device with what it can do, the logical device
// and its compute queue, and the validation-message counter.
//
// Selection: an explicit index, else $KLLENS_VULKAN_DEVICE, else the best type
// (discrete > integrated > virtual > CPU; lavapipe is a CPU device). Validation: the
// Khronos layer with synchronisation validation and a debug-utils messenger that counts
// every warning and error; the backend turns a non-zero count into an exception.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

#include "kllens/vulkan.h"

namespace kllens::vk {

// What the device offers (recorded at start; kernels pick variants from it).
struct DeviceInfo {
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t api_version = 0, vendor_id = 0, device_id = 0, driver_version = 0;
  uint8_t pipeline_cache_uuid[VK_UUID_SIZE] = {};
  std::string driver_name, driver_info;  // VkPhysicalDeviceDriverProperties: "llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)"
  // subgroups
  uint32_t subgroup_size = 0, min_subgroup_size = 0, max_subgroup_size = 0;
  bool subgroup_arithmetic = false;       // subgroupAdd etc. in compute
  bool subgroup_size_control = false, compute_full_subgroups = false;
  bool required_subgroup_compute = false; // requiredSubgroupSizeStages has compute
  uint32_t max_workgroup_subgroups = 0;   // maxComputeWorkgroupSubgroups (Vulkan 1.3)
  // arithmetic and storage types
  bool fp16_arith = false, int8_arith = false;
  bool storage16 = false, storage8 = false;
  bool integer_dot_product = false, integer_dot_4x8_accelerated = false;
  bool cooperative_matrix = false;        // VK_KHR_ or VK_NV_cooperative_matrix present
  // memory
  bool unified_memory = false;            // device-local + host-visible: no staging
  uint64_t max_storage_buffer_range = 0, min_storage_offset_alignment = 0;
  uint64_t max_allocation = 0, non_coherent_atom = 0;
  // compute limits
  uint32_t max_group_count[3] = {}, max_group_invocations = 0, max_shared_bytes = 0;
  uint32_t max_push_constants = 0;
  bool timestamps = false;
  float timestamp_period_ns = 0;

  std::string summary() const;  // one line: name, type, subgroup, features
};

std::string device_type_name(VkPhysicalDeviceType t);

// Counts validation/driver warnings and errors reported through the messenger.
struct ValidationLog {
  std::atomic<int> count{0};
  std::mutex mutex;
  std::vector<std::string> messages;  // the first few, guarded by mutex
};

class Context {
 public:
  Context(int device_index, bool validation);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  VkInstance instance() const { return instance_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const DeviceInfo& info() const { return info_; }
  bool validation() const { return validation_; }
  int validation_count() const { return log_->count.load(); }
  // Throws kllens::Error with the first messages if any warning or error was reported.
  void check_validation(const char* where) const;
  // Memory type index with all of `want` among `bits`, or -1.
  int memory_type(uint32_t bits, VkMemoryPropertyFlags want) const;

  // The fault hook (VulkanOptions::fault): arms `fault` for its `after`-th occasion.
  void inject_fault(VulkanFault fault, int after);
  // At an occasion of `kind`: the result the driver is to be taken to have returned
  // (VK_SUCCESS unless the armed fault fires now).
  VkResult injected(VulkanFault kind);

 private:
  void destroy();  // releases the device, messenger and instance (idempotent)

  bool validation_ = false;
  std::unique_ptr<ValidationLog> log_;                      // owned; messenger user data
  VkInstance instance_ = VK_NULL_HANDLE;                    // owned
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;     // owned
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;              // borrowed from instance_
  VkDevice device_ = VK_NULL_HANDLE;                        // owned
  VkQueue queue_ = VK_NULL_HANDLE;                          // borrowed from device_
  uint32_t queue_family_ = 0;
  VkPhysicalDeviceMemoryProperties mem_props_{};
  DeviceInfo info_;
  VulkanFault fault_ = VulkanFault::none;
  std::atomic<int> fault_countdown_{0};
};

}  // namespace kllens::vk
