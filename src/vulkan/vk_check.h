// The one checked-call macro for Vulkan results.
//
// VK_CHECK(vkFoo(...)) throws kllens::Error "file:line: vkFoo(...) failed: VK_ERROR_..."
// on any result other than VK_SUCCESS. Calls that may legitimately return something else
// (VK_INCOMPLETE, VK_TIMEOUT) test their result themselves.
#pragma once

#include <vulkan/vulkan.h>

#include "kllens/error.h"

namespace kllens::vk {

const char* result_name(VkResult r);
[[noreturn]] void throw_vk_error(VkResult r, const char* call, const char* file, int line);

}  // namespace kllens::vk

#define VK_CHECK(call)                                                        \
  do {                                                                        \
    const VkResult kl_vk_result_ = (call);                                    \
    if (kl_vk_result_ != VK_SUCCESS)                                          \
      ::kllens::vk::throw_vk_error(kl_vk_result_, #call, __FILE__, __LINE__); \
  } while (0)
