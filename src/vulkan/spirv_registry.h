// The SPIR-V of every shader variant, embedded at build time (cmake/vulkan.cmake writes
// the table from shaders/*.comp and its variant list).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace kllens::vk {

struct SpirvBlob {
  const char* name;      // variant name, e.g. "matmul_gemv_f16"
  const uint32_t* words;
  size_t count;
};

extern const SpirvBlob kSpirvBlobs[];
extern const size_t kSpirvBlobCount;

// The words of one variant; throws if the name is unknown.
std::span<const uint32_t> spirv(std::string_view name);

}  // namespace kllens::vk
