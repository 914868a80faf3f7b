// Instance, device selection and feature query, logical device, validation messenger.
#include "vulkan/context.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "kllens/vulkan.h"
#include "vulkan/vk_check.h"

namespace kllens::vk {

// ---- results ---------------------------------------------------------------------------

const char* result_name(VkResult r) {
  switch (r) {
#define KL_CASE(x) case x: return #x;
    KL_CASE(VK_SUCCESS) KL_CASE(VK_NOT_READY) KL_CASE(VK_TIMEOUT) KL_CASE(VK_INCOMPLETE)
    KL_CASE(VK_ERROR_OUT_OF_HOST_MEMORY) KL_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    KL_CASE(VK_ERROR_INITIALIZATION_FAILED) KL_CASE(VK_ERROR_DEVICE_LOST)
    KL_CASE(VK_ERROR_MEMORY_MAP_FAILED) KL_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    KL_CASE(VK_ERROR_EXTENSION_NOT_PRESENT) KL_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    KL_CASE(VK_ERROR_INCOMPATIBLE_DRIVER) KL_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    KL_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED) KL_CASE(VK_ERROR_FRAGMENTED_POOL)
    KL_CASE(VK_ERROR_OUT_OF_POOL_MEMORY) KL_CASE(VK_ERROR_UNKNOWN)
#undef KL_CASE
    default: return "VkResult(?)";
  }
}

void throw_vk_error(VkResult r, const char* call, const char* file, int line) {
  // The device's own faults get a plain one-line name and their own type.
  const std::string_view c(call);
  const std::string fn(c.substr(0, c.find('(')));
  const char* base = std::strrchr(file, '/');
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
    throw VulkanDeviceError(fmt::format("Vulkan device out of memory ({} at {}:{})", fn, base ? base + 1 : file, line));
  if (r == VK_ERROR_DEVICE_LOST)
    throw VulkanDeviceError(fmt::format("Vulkan device lost ({} at {}:{})", fn, base ? base + 1 : file, line));
  throw Error(fmt::format("{}:{}: {} failed: {} ({})", file, line, call, result_name(r), int(r)));
}

void Context::inject_fault(VulkanFault fault, int after) {
  fault_ = fault;
  fault_countdown_.store(after);
}

VkResult Context::injected(VulkanFault kind) {
  if (fault_ != kind || fault_countdown_.fetch_sub(1) != 0) return VK_SUCCESS;
  return kind == VulkanFault::out_of_device_memory ? VK_ERROR_OUT_OF_DEVICE_MEMORY : VK_ERROR_DEVICE_LOST;
}

std::string device_type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

std::string DeviceInfo::summary() const {
  return fmt::format(
      "{} ({}, Vulkan {}.{}, subgroup {} [{}..{}]{}, fp16 {}, int8 {}, 16-bit storage {}, "
      "8-bit storage {}, integer dot {}{}, cooperative matrix {}, {} memory)",
      name, device_type_name(type), VK_API_VERSION_MAJOR(api_version),
      VK_API_VERSION_MINOR(api_version), subgroup_size, min_subgroup_size, max_subgroup_size,
      subgroup_size_control ? " size control" : "", fp16_arith, int8_arith, storage16, storage8,
      integer_dot_product, integer_dot_4x8_accelerated ? " (accelerated)" : "",
      cooperative_matrix, unified_memory ? "unified" : "staged");
}

// ---- instance ----------------------------------------------------------------------------

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                          VkDebugUtilsMessageTypeFlagsEXT /*types*/,
                                          const VkDebugUtilsMessengerCallbackDataEXT* data,
                                          void* user) {
  auto* log = static_cast<ValidationLog*>(user);
  const bool error = severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  const std::string text = fmt::format("[{}] {}", error ? "error" : "warning",
                                       data && data->pMessage ? data->pMessage : "?");
  std::fprintf(stderr, "kllens vulkan validation: %s\n", text.c_str());
  log->count.fetch_add(1);
  std::lock_guard lock(log->mutex);
  if (log->messages.size() < 4) log->messages.push_back(text);
  return VK_FALSE;
}

bool has_layer(const char* name) {
  uint32_t n = 0;
  VK_CHECK(vkEnumerateInstanceLayerProperties(&n, nullptr));
  std::vector<VkLayerProperties> layers(n);
  VK_CHECK(vkEnumerateInstanceLayerProperties(&n, layers.data()));
  for (const auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

bool has_instance_extension(const char* layer, const char* name) {
  uint32_t n = 0;
  VK_CHECK(vkEnumerateInstanceExtensionProperties(layer, &n, nullptr));
  std::vector<VkExtensionProperties> ext(n);
  VK_CHECK(vkEnumerateInstanceExtensionProperties(layer, &n, ext.data()));
  for (const auto& e : ext)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

// A bare instance for listing devices (no layers).
VkInstance create_plain_instance() {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "kllens";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  VkInstance inst = VK_NULL_HANDLE;
  const VkResult r = vkCreateInstance(&ci, nullptr, &inst);
  if (r != VK_SUCCESS) fail("no Vulkan driver (vkCreateInstance: {})", result_name(r));
  return inst;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance inst) {
  uint32_t n = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, nullptr));
  std::vector<VkPhysicalDevice> devs(n);
  VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, devs.data()));
  return devs;
}

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
  }
}

bool has_device_extension(const std::vector<VkExtensionProperties>& ext, const char* name) {
  return std::any_of(ext.begin(), ext.end(),
                     [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

}  // namespace

// ---- context -----------------------------------------------------------------------------

Context::Context(int device_index, bool validation)
    : validation_(validation || env_flag("KLLENS_VULKAN_VALIDATION")),
      log_(std::make_unique<ValidationLog>()) {
  // Instance, with the validation layer and a messenger that sees instance creation too.
  std::vector<const char*> layers, extensions;
  VkDebugUtilsMessengerCreateInfoEXT mci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  mci.pfnUserCallback = on_message;
  mci.pUserData = log_.get();
  const VkValidationFeatureEnableEXT enables[] = {
      VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = enables;
  const char* kLayer = "VK_LAYER_KHRONOS_validation";
  const void* next = nullptr;
  if (validation_) {
    if (!has_layer(kLayer))
      fail("Vulkan validation requested but {} is not installed (vulkan-validationlayers)", kLayer);
    layers.push_back(kLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    next = &mci;
    if (has_instance_extension(kLayer, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME)) {
      extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
      features.pNext = &mci;
      next = &features;
    }
  }
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "kllens";
  app.pEngineName = "kllens";
  app.apiVersion = VK_API_VERSION_1_3;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pNext = next;
  ici.pApplicationInfo = &app;
  ici.enabledLayerCount = uint32_t(layers.size());
  ici.ppEnabledLayerNames = layers.data();
  ici.enabledExtensionCount = uint32_t(extensions.size());
  ici.ppEnabledExtensionNames = extensions.data();
  const VkResult ir = vkCreateInstance(&ici, nullptr, &instance_);
  if (ir != VK_SUCCESS) fail("no Vulkan driver (vkCreateInstance: {})", result_name(ir));
  try {
    if (validation_) {
      auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
      KL_CHECK(create != nullptr, "vkCreateDebugUtilsMessengerEXT missing");
      VK_CHECK(create(instance_, &mci, nullptr, &messenger_));
    }

    // Physical device.
    const auto devs = physical_devices(instance_);
    if (devs.empty()) fail("no Vulkan device found");
    if (device_index < 0) {
      if (const char* e = std::getenv("KLLENS_VULKAN_DEVICE"); e && *e) {
        // Strict: "abc" or "-5" is a mistake to report, not device 0 or "any device".
        char* end = nullptr;
        const long v = std::strtol(e, &end, 10);
        if (*end != '\0' || v < 0 || v > 1 << 16)
          fail("KLLENS_VULKAN_DEVICE='{}' is not a device index (an integer >= 0)", e);
        device_index = int(v);
      }
    }
    if (device_index >= 0) {
      if (size_t(device_index) >= devs.size())
        fail("Vulkan device {} requested, but there are only {}", device_index, devs.size());
      physical_ = devs[size_t(device_index)];
    } else {
      int best = -1;
      for (VkPhysicalDevice d : devs) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(d, &p);
        if (p.apiVersion < VK_API_VERSION_1_2) continue;
        if (type_rank(p.deviceType) > best) best = type_rank(p.deviceType), physical_ = d;
      }
      if (!physical_) fail("no Vulkan 1.2 device found");
    }

    // Properties.
    VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceVulkan13Properties p13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_PROPERTIES};
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props.pNext = &sg;
    VkPhysicalDeviceProperties basic;
    vkGetPhysicalDeviceProperties(physical_, &basic);
    const bool v13 = basic.apiVersion >= VK_API_VERSION_1_3;
    if (v13) sg.pNext = &p13;
    vkGetPhysicalDeviceProperties2(physical_, &props);
    const VkPhysicalDeviceLimits& lim = props.properties.limits;
    info_.name = props.properties.deviceName;
    info_.type = props.properties.deviceType;
    info_.api_version = props.properties.apiVersion;
    info_.vendor_id = props.properties.vendorID;
    info_.device_id = props.properties.deviceID;
    info_.driver_version = props.properties.driverVersion;
    std::memcpy(info_.pipeline_cache_uuid, props.properties.pipelineCacheUUID, VK_UUID_SIZE);
    if (info_.api_version < VK_API_VERSION_1_2) fail("Vulkan device {} is older than 1.2", info_.name);
    info_.subgroup_size = sg.subgroupSize;
    info_.subgroup_arithmetic = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info_.min_subgroup_size = v13 ? p13.minSubgroupSize : sg.subgroupSize;
    info_.max_subgroup_size = v13 ? p13.maxSubgroupSize : sg.subgroupSize;
    info_.max_storage_buffer_range = lim.maxStorageBufferRange;
    info_.min_storage_offset_alignment = lim.minStorageBufferOffsetAlignment;
    info_.non_coherent_atom = lim.nonCoherentAtomSize;
    for (int i = 0; i < 3; ++i) info_.max_group_count[i] = lim.maxComputeWorkGroupCount[i];
    info_.max_group_invocations = lim.maxComputeWorkGroupInvocations;
    info_.max_shared_bytes = lim.maxComputeSharedMemorySize;
    info_.max_push_constants = lim.maxPushConstantsSize;
    info_.timestamp_period_ns = lim.timestampPeriod;

    VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};  // core in 1.2
    VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props2.pNext = &m3;
    m3.pNext = &drv;
    vkGetPhysicalDeviceProperties2(physical_, &props2);
    info_.max_allocation = m3.maxMemoryAllocationSize;
    info_.driver_name = drv.driverName;
    info_.driver_info = drv.driverInfo;

    if (v13) {
      VkPhysicalDeviceShaderIntegerDotProductProperties dp{
          VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
      VkPhysicalDeviceProperties2 props3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
      props3.pNext = &dp;
      vkGetPhysicalDeviceProperties2(physical_, &props3);
      info_.integer_dot_4x8_accelerated = dp.integerDotProduct4x8BitPackedSignedAccelerated;
    }

    uint32_t next_count = 0;
    VK_CHECK(vkEnumerateDeviceExtensionProperties(physical_, nullptr, &next_count, nullptr));
    std::vector<VkExtensionProperties> dev_ext(next_count);
    VK_CHECK(vkEnumerateDeviceExtensionProperties(physical_, nullptr, &next_count, dev_ext.data()));
    info_.cooperative_matrix = has_device_extension(dev_ext, "VK_KHR_cooperative_matrix") ||
                               has_device_extension(dev_ext, "VK_NV_cooperative_matrix");

    // Features: query, then enable exactly those kllens can use.
    VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
    VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    feats.pNext = &f11;
    f11.pNext = &f12;
    if (v13) f12.pNext = &f13;
    vkGetPhysicalDeviceFeatures2(physical_, &feats);
    info_.storage16 = f11.storageBuffer16BitAccess;
    info_.storage8 = f12.storageBuffer8BitAccess;
    info_.fp16_arith = f12.shaderFloat16;
    info_.int8_arith = f12.shaderInt8;
    info_.subgroup_size_control = v13 && f13.subgroupSizeControl;
    info_.required_subgroup_compute =
        info_.subgroup_size_control && (p13.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
    info_.max_workgroup_subgroups = v13 ? p13.maxComputeWorkgroupSubgroups : 0;
    info_.compute_full_subgroups = v13 && f13.computeFullSubgroups;
    info_.integer_dot_product = v13 && f13.shaderIntegerDotProduct;

    VkPhysicalDeviceVulkan11Features e11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features e12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan13Features e13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
    e11.pNext = &e12;
    if (v13) e12.pNext = &e13;
    e11.storageBuffer16BitAccess = f11.storageBuffer16BitAccess;
    e12.storageBuffer8BitAccess = f12.storageBuffer8BitAccess;
    e12.shaderFloat16 = f12.shaderFloat16;
    e12.shaderInt8 = f12.shaderInt8;
    e13.subgroupSizeControl = f13.subgroupSizeControl;
    e13.computeFullSubgroups = f13.computeFullSubgroups;
    e13.shaderIntegerDotProduct = f13.shaderIntegerDotProduct;
    VkPhysicalDeviceFeatures2 enable{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    enable.pNext = &e11;
    enable.features.shaderInt64 = feats.features.shaderInt64;

    // Queue: the first family that can compute.
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> qf(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, qf.data());
    int family = -1;
    for (uint32_t i = 0; i < nq && family < 0; ++i)
      if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = int(i);
    if (family < 0) fail("Vulkan device {} has no compute queue", info_.name);
    queue_family_ = uint32_t(family);
    info_.timestamps = qf[queue_family_].timestampValidBits > 0;

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = queue_family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.pNext = &enable;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VK_CHECK(vkCreateDevice(physical_, &dci, nullptr, &device_));
    vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

    // Memory: unified when an integrated/CPU device has coherent device-local host memory.
    vkGetPhysicalDeviceMemoryProperties(physical_, &mem_props_);
    const bool shared_type = info_.type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                             info_.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    info_.unified_memory =
        shared_type && !env_flag("KLLENS_VULKAN_FORCE_STAGING") &&
        memory_type(~0u, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                             VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) >= 0;
  } catch (...) {
    destroy();
    throw;
  }
}

Context::~Context() { destroy(); }

void Context::destroy() {
  if (device_) vkDestroyDevice(device_, nullptr);
  device_ = VK_NULL_HANDLE;
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
    messenger_ = VK_NULL_HANDLE;
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
  instance_ = VK_NULL_HANDLE;
}

void Context::check_validation(const char* where) const {
  if (log_->count.load() == 0) return;
  std::lock_guard lock(log_->mutex);
  std::string first = log_->messages.empty() ? std::string("?") : log_->messages.front();
  if (first.size() > 600) first.resize(600);
  fail("Vulkan validation reported {} message(s) (by {}); first: {}", log_->count.load(), where,
       first);
}

int Context::memory_type(uint32_t bits, VkMemoryPropertyFlags want) const {
  for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i)
    if ((bits & (1u << i)) && (mem_props_.memoryTypes[i].propertyFlags & want) == want) return int(i);
  return -1;
}

// ---- public listing ----------------------------------------------------------------------

}  // namespace kllens::vk

namespace kllens {

std::vector<std::string> list_vulkan_devices() {
  VkInstance inst = vk::create_plain_instance();
  std::vector<std::string> out;
  try {
    const auto devs = vk::physical_devices(inst);
    for (size_t i = 0; i < devs.size(); ++i) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(devs[i], &p);
      out.push_back(fmt::format("{}: {} ({}, Vulkan {}.{}.{})", i, p.deviceName,
                                vk::device_type_name(p.deviceType), VK_API_VERSION_MAJOR(p.apiVersion),
                                VK_API_VERSION_MINOR(p.apiVersion), VK_API_VERSION_PATCH(p.apiVersion)));
    }
  } catch (...) {
    vkDestroyInstance(inst, nullptr);
    throw;
  }
  vkDestroyInstance(inst, nullptr);
  return out;
}

}  // namespace kllens
