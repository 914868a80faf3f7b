// Pipeline creation, the on-disk pipeline cache and the SPIR-V interface check.
#include "vulkan/pipeline.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "vulkan/spirv_registry.h"
#include "vulkan/vk_check.h"

namespace kllens::vk {

std::span<const uint32_t> spirv(std::string_view name) {
  for (size_t i = 0; i < kSpirvBlobCount; ++i)
    if (name == kSpirvBlobs[i].name) return {kSpirvBlobs[i].words, kSpirvBlobs[i].count};
  fail("no embedded shader variant named \"{}\"", name);
}

// ---- SPIR-V reflection (just enough for the interface check) -------------------------------

SpirvInterface reflect_spirv(const uint32_t* words, size_t count) {
  KL_CHECK(count > 5 && words[0] == 0x07230203u, "not a SPIR-V module");
  enum : uint32_t {
    OpTypeInt = 21, OpTypeFloat = 22, OpTypeVector = 23, OpTypeStruct = 30, OpTypePointer = 32,
    OpVariable = 59, OpDecorate = 71, OpMemberDecorate = 72, DecBinding = 33, DecOffset = 35,
    ScPushConstant = 9
  };
  std::map<uint32_t, uint32_t> scalar_bytes, pointee;           // type id -> bytes / pointee
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> vectors;    // id -> (component, count)
  std::map<uint32_t, std::vector<uint32_t>> structs;            // id -> member types
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> offsets;    // (struct, member) -> offset
  uint32_t push_ptr = 0, max_binding = 0;
  bool any_binding = false;
  for (size_t i = 5; i < count;) {
    const uint32_t op = words[i] & 0xffff, len = words[i] >> 16;
    KL_CHECK(len > 0 && i + len <= count, "malformed SPIR-V");
    const uint32_t* a = words + i + 1;
    switch (op) {
      case OpTypeInt: case OpTypeFloat: scalar_bytes[a[0]] = a[1] / 8; break;
      case OpTypeVector: vectors[a[0]] = {a[1], a[2]}; break;
      case OpTypeStruct: structs[a[0]] = std::vector<uint32_t>(a + 1, a + len - 1); break;
      case OpTypePointer: pointee[a[0]] = a[2]; break;
      case OpVariable: if (a[2] == ScPushConstant) push_ptr = a[0]; break;  // its pointer type
      case OpDecorate:
        if (a[1] == DecBinding) any_binding = true, max_binding = std::max(max_binding, a[2]);
        break;
      case OpMemberDecorate: if (a[2] == DecOffset) offsets[{a[0], a[1]}] = a[3]; break;
      default: break;
    }
    i += len;
  }
  // Size of a type: scalars, vectors and structs of them (no arrays in push constants).
  auto size_of = [&](auto&& self, uint32_t id) -> uint32_t {
    if (auto s = scalar_bytes.find(id); s != scalar_bytes.end()) return s->second;
    if (auto v = vectors.find(id); v != vectors.end()) return self(self, v->second.first) * v->second.second;
    auto st = structs.find(id);
    KL_CHECK(st != structs.end(), "push-constant member of an unsupported type");
    uint32_t end = 0;
    for (uint32_t m = 0; m < st->second.size(); ++m)
      end = std::max(end, offsets[{id, m}] + self(self, st->second[m]));
    return end;
  };
  SpirvInterface out;
  if (push_ptr) out.push_bytes = size_of(size_of, pointee.at(push_ptr));
  out.bindings = any_binding ? max_binding + 1 : 0;
  return out;
}

// ---- cache -------------------------------------------------------------------------------

std::string PipelineCache::cache_path() const {
  std::string dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = std::string(x) + "/kllens";
  else if (const char* h = std::getenv("HOME"); h && *h) dir = std::string(h) + "/.cache/kllens";
  else return {};
  std::string uuid;
  for (uint8_t b : ctx_->info().pipeline_cache_uuid) uuid += fmt::format("{:02x}", b);
  return fmt::format("{}/pipelines-{:04x}-{:04x}-{}.bin", dir, ctx_->info().vendor_id,
                     ctx_->info().device_id, uuid);
}

PipelineCache::PipelineCache(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {
  std::vector<char> data;
  if (const std::string path = cache_path(); !path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (in) data.assign(std::istreambuf_iterator<char>(in), {});
  }
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  ci.initialDataSize = data.size();  // the driver checks the header and ignores stale data
  ci.pInitialData = data.empty() ? nullptr : data.data();
  VkPipelineCache cache = VK_NULL_HANDLE;
  if (vkCreatePipelineCache(ctx_->device(), &ci, nullptr, &cache) != VK_SUCCESS) {
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    VK_CHECK(vkCreatePipelineCache(ctx_->device(), &ci, nullptr, &cache));
  }
  cache_ = UniquePipelineCache(ctx_->device(), cache);
}

PipelineCache::~PipelineCache() {
  // Best effort: a cache that cannot be written only costs compile time next run.
  try {
    const std::string path = cache_path();
    if (path.empty() || kernels_.empty()) return;
    size_t n = 0;
    if (vkGetPipelineCacheData(ctx_->device(), cache_.get(), &n, nullptr) != VK_SUCCESS || !n) return;
    std::vector<char> data(n);
    if (vkGetPipelineCacheData(ctx_->device(), cache_.get(), &n, data.data()) != VK_SUCCESS) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    const std::string tmp = fmt::format("{}.{}.tmp", path, static_cast<const void*>(this));
    {
      std::ofstream out(tmp, std::ios::binary);
      if (!out) return;
      out.write(data.data(), std::streamsize(n));
      if (!out) return;
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) std::filesystem::remove(tmp, ec);
  } catch (...) {
  }
}

// ---- pipelines -----------------------------------------------------------------------------

const Kernel& PipelineCache::get(const std::string& variant, uint32_t bindings, uint32_t push_bytes,
                                 const std::vector<uint32_t>& spec, uint32_t subgroup_size) {
  std::string key = variant;
  for (uint32_t s : spec) key += fmt::format(":{}", s);
  if (subgroup_size) key += fmt::format("@{}", subgroup_size);
  std::lock_guard lock(mutex_);
  if (auto it = kernels_.find(key); it != kernels_.end()) return *it->second;

  const auto code = spirv(variant);
  const SpirvInterface iface = reflect_spirv(code.data(), code.size());
  KL_CHECK(iface.push_bytes == push_bytes,
           "shader {} declares {} bytes of push constants, its launcher passes {}", variant,
           iface.push_bytes, push_bytes);
  KL_CHECK(iface.bindings == bindings, "shader {} declares {} bindings, its launcher binds {}",
           variant, iface.bindings, bindings);
  KL_CHECK(push_bytes <= ctx_->info().max_push_constants, "{}: {} bytes of push constants > limit {}",
           variant, push_bytes, ctx_->info().max_push_constants);

  VkDevice dev = ctx_->device();
  auto k = std::make_unique<Kernel>();
  k->name = variant;
  k->bindings = bindings;
  k->push_bytes = push_bytes;
  k->spec = spec;
  k->subgroup_size = subgroup_size;

  std::vector<VkDescriptorSetLayoutBinding> lb(bindings);
  for (uint32_t i = 0; i < bindings; ++i)
    lb[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo sci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  sci.bindingCount = bindings;
  sci.pBindings = lb.data();
  VkDescriptorSetLayout sl = VK_NULL_HANDLE;
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &sci, nullptr, &sl));
  k->set_layout = UniqueSetLayout(dev, sl);

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
  VkPipelineLayoutCreateInfo lci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  lci.setLayoutCount = 1;
  lci.pSetLayouts = &sl;
  lci.pushConstantRangeCount = push_bytes ? 1 : 0;
  lci.pPushConstantRanges = &range;
  VkPipelineLayout pl = VK_NULL_HANDLE;
  VK_CHECK(vkCreatePipelineLayout(dev, &lci, nullptr, &pl));
  k->layout = UniquePipelineLayout(dev, pl);

  VkShaderModuleCreateInfo mci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mci.codeSize = code.size() * 4;
  mci.pCode = code.data();
  VkShaderModule sm = VK_NULL_HANDLE;
  VK_CHECK(vkCreateShaderModule(dev, &mci, nullptr, &sm));
  UniqueShaderModule module(dev, sm);

  std::vector<VkSpecializationMapEntry> entries(spec.size());
  for (uint32_t i = 0; i < spec.size(); ++i) entries[i] = {i, i * 4, 4};
  VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), spec.size() * 4, spec.data()};
  VkComputePipelineCreateInfo pci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  pci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  pci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pci.stage.module = sm;
  pci.stage.pName = "main";
  pci.stage.pSpecializationInfo = spec.empty() ? nullptr : &si;
  VkPipelineShaderStageRequiredSubgroupSizeCreateInfo required{
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
  if (subgroup_size) {
    const DeviceInfo& info = ctx_->info();
    KL_CHECK(info.required_subgroup_compute && subgroup_size >= info.min_subgroup_size &&
                 subgroup_size <= info.max_subgroup_size && (subgroup_size & (subgroup_size - 1)) == 0,
             "{}: subgroup size {} is not available (size control {}, range [{}, {}])", variant,
             subgroup_size, info.required_subgroup_compute, info.min_subgroup_size, info.max_subgroup_size);
    KL_CHECK(!spec.empty() && spec[0] % subgroup_size == 0 &&
                 spec[0] / subgroup_size <= std::max<uint32_t>(info.max_workgroup_subgroups, 1),
             "{}: workgroup size {} does not split into subgroups of {}", variant,
             spec.empty() ? 0 : spec[0], subgroup_size);
    required.requiredSubgroupSize = subgroup_size;
    pci.stage.pNext = &required;
    // Full subgroups: every subgroup has exactly subgroup_size invocations.
    if (info.compute_full_subgroups) pci.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
  }
  pci.layout = pl;
  VkPipeline pipe = VK_NULL_HANDLE;
  VK_CHECK(vkCreateComputePipelines(dev, cache_.get(), 1, &pci, nullptr, &pipe));
  k->pipeline = UniquePipeline(dev, pipe);
  return *kernels_.emplace(key, std::move(k)).first->second;
}

}  // namespace kllens::vk
