// Compute pipelines: one per (shader variant, specialization constants), created once and
// kept; a VkPipelineCache persisted in $XDG_CACHE_HOME/kllens (or ~/.cache/kllens) keyed by
// the device's pipeline-cache UUID. Failing to read or write the cache file is not an error.
//
// Every kernel states its bindings (index from shaders/<op>.h, and access) and its
// push-constant size; all are checked against the SPIR-V itself (the push-constant block,
// every binding's NonWritable / NonReadable decorations — GLSL's readonly / writeonly),
// so a shader and its launcher that disagree fail at pipeline creation. The stream orders
// dispatches by the access the SPIR-V declares (Kernel::access).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "vulkan/context.h"
#include "vulkan/handles.h"

namespace kllens::vk {

// How a shader uses one storage buffer: GLSL readonly (read), writeonly (write), or
// neither (read_write); none: the variant has no such variable (the optimiser removed
// it as unused), so the binding is set but never touched.
enum class Access : uint8_t { none = 0, read = 1, write = 2, read_write = 3 };
inline bool reads(Access a) { return (uint8_t(a) & 1) != 0; }
inline bool writes(Access a) { return (uint8_t(a) & 2) != 0; }
const char* access_name(Access a);

// One binding as a launcher states it: its index (shaders/<op>.h) and how the op uses it.
struct BindingUse {
  uint32_t binding;
  Access access;
};

struct Kernel {
  std::string name;                 // variant name, e.g. "matmul_gemv_f16"
  uint32_t bindings = 0;            // storage buffers 0..bindings-1
  std::vector<Access> access;       // per binding, from the SPIR-V
  uint32_t push_bytes = 0;
  std::vector<uint32_t> spec;       // specialization constants, ids 0..n-1
  uint32_t subgroup_size = 0;       // required subgroup size (full subgroups), 0 = driver's
  UniqueSetLayout set_layout;       // owned
  UniquePipelineLayout layout;      // owned
  UniquePipeline pipeline;          // owned
};

// What the SPIR-V of a variant declares (for the checks above).
struct SpirvInterface {
  uint32_t push_bytes = 0;          // size of the push-constant block, 0 if none
  uint32_t bindings = 0;            // highest descriptor binding + 1 in set 0
  std::vector<Access> access;       // per binding 0..bindings-1 (none: no variable)
};
SpirvInterface reflect_spirv(const uint32_t* words, size_t count);

class PipelineCache {
 public:
  explicit PipelineCache(std::shared_ptr<Context> ctx);
  ~PipelineCache();  // writes the cache file
  PipelineCache(const PipelineCache&) = delete;
  PipelineCache& operator=(const PipelineCache&) = delete;

  // The pipeline of `variant` with these specialization constants (created on first use).
  // `uses` states every binding once with its access; it must be what the SPIR-V declares.
  // subgroup_size > 0 requires that subgroup size (VK_EXT_subgroup_size_control, core in
  // Vulkan 1.3) with full subgroups; spec[0], the workgroup size, must be a multiple of it.
  const Kernel& get(const std::string& variant, std::span<const BindingUse> uses, uint32_t push_bytes,
                    const std::vector<uint32_t>& spec, uint32_t subgroup_size = 0);
  const Kernel& get(const std::string& variant, std::initializer_list<BindingUse> uses,
                    uint32_t push_bytes, const std::vector<uint32_t>& spec, uint32_t subgroup_size = 0) {
    return get(variant, std::span<const BindingUse>(uses.begin(), uses.size()), push_bytes, spec,
               subgroup_size);
  }

 private:
  std::string cache_path() const;

  std::shared_ptr<Context> ctx_;                       // shared: device outlives pipelines
  UniquePipelineCache cache_;                          // owned
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Kernel>> kernels_;  // owned, by variant + spec
};

}  // namespace kllens::vk
