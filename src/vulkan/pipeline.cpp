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
    DecNonWritable = 24, DecNonReadable = 25, ScPushConstant = 9
  };
  // A binding's access: NonWritable / NonReadable on the variable, or on every member of
  // its block (where glslang puts GLSL's readonly / writeonly).
  std::map<uint32_t, uint32_t> binding_of, var_type;               // variable -> binding / pointer type
  std::map<uint32_t, std::pair<bool, bool>> var_flags;             // variable -> (NonWritable, NonReadable)
  std::map<uint32_t, std::map<uint32_t, std::pair<bool, bool>>> member_flags;  // struct -> member -> flags
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
      case OpVariable:
        if (a[2] == ScPushConstant) push_ptr = a[0];  // its pointer type
        var_type[a[1]] = a[0];
        break;
      case OpDecorate:
        if (a[1] == DecBinding) any_binding = true, max_binding = std::max(max_binding, a[2]), binding_of[a[0]] = a[2];
        if (a[1] == DecNonWritable) var_flags[a[0]].first = true;
        if (a[1] == DecNonReadable) var_flags[a[0]].second = true;
        break;
      case OpMemberDecorate:
        if (a[2] == DecOffset) offsets[{a[0], a[1]}] = a[3];
        if (a[2] == DecNonWritable) member_flags[a[0]][a[1]].first = true;
        if (a[2] == DecNonReadable) member_flags[a[0]][a[1]].second = true;
        break;
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
  out.access.assign(out.bindings, Access::none);
  for (const auto& [var, binding] : binding_of) {
    auto [non_writable, non_readable] = var_flags[var];
    auto t = var_type.find(var);
    KL_CHECK(t != var_type.end() && pointee.count(t->second), "binding {} is not a variable", binding);
    if (auto st = structs.find(pointee.at(t->second)); st != structs.end() && !st->second.empty()) {
      bool all_nw = true, all_nr = true;
      for (uint32_t m = 0; m < st->second.size(); ++m) {
        const auto f = member_flags[st->first][m];
        all_nw = all_nw && f.first, all_nr = all_nr && f.second;
      }
      non_writable = non_writable || all_nw, non_readable = non_readable || all_nr;
    }
    KL_CHECK(!(non_writable && non_readable), "binding {} is neither read nor written", binding);
    // Several variables may alias one binding (matmul_gemv reads its weight binding both as
    // the element view of weight.glsl and as the words of weight_block.glsl): the binding's
    // access is the union of theirs.
    const Access a = non_writable ? Access::read : non_readable ? Access::write : Access::read_write;
    out.access[binding] = Access(uint8_t(out.access[binding]) | uint8_t(a));
  }
  return out;
}

const char* access_name(Access a) {
  switch (a) {
    case Access::none: return "unused";
    case Access::read: return "readonly";
    case Access::write: return "writeonly";
    case Access::read_write: return "read-write";
  }
  return "?";
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

namespace {

// The launcher's statement of its bindings against what the SPIR-V declares.
void check_uses(const std::string& variant, std::span<const BindingUse> uses,
                const std::vector<Access>& declared) {
  KL_CHECK(uses.size() == declared.size(), "shader {} declares {} bindings, its launcher binds {}", variant,
           declared.size(), uses.size());
  std::vector<bool> stated(uses.size(), false);
  for (const BindingUse& u : uses) {
    KL_CHECK(u.binding < uses.size() && !stated[u.binding],
             "{}: the launcher states binding {} twice or out of range", variant, u.binding);
    stated[u.binding] = true;
    // A binding the variant does not use (removed by the optimiser) cannot be checked.
    KL_CHECK(declared[u.binding] == u.access || declared[u.binding] == Access::none,
             "shader {} declares binding {} {}, its launcher uses it as {}", variant, u.binding,
             access_name(declared[u.binding]), access_name(u.access));
  }
}

}  // namespace

const Kernel& PipelineCache::get(const std::string& variant, std::span<const BindingUse> uses,
                                 uint32_t push_bytes, const std::vector<uint32_t>& spec,
                                 uint32_t subgroup_size) {
  const uint32_t bindings = uint32_t(uses.size());
  std::string key = variant;
  for (uint32_t s : spec) key += fmt::format(":{}", s);
  if (subgroup_size) key += fmt::format("@{}", subgroup_size);
  std::lock_guard lock(mutex_);
  if (auto it = kernels_.find(key); it != kernels_.end()) {
    check_uses(variant, uses, it->second->access);  // every launch states the same uses
    return *it->second;
  }

  const auto code = spirv(variant);
  const SpirvInterface iface = reflect_spirv(code.data(), code.size());
  KL_CHECK(iface.push_bytes == push_bytes,
           "shader {} declares {} bytes of push constants, its launcher passes {}", variant,
           iface.push_bytes, push_bytes);
  KL_CHECK(iface.bindings == bindings, "shader {} declares {} bindings, its launcher binds {}",
           variant, iface.bindings, bindings);
  check_uses(variant, uses, iface.access);
  KL_CHECK(push_bytes <= ctx_->info().max_push_constants, "{}: {} bytes of push constants > limit {}",
           variant, push_bytes, ctx_->info().max_push_constants);

  VkDevice dev = ctx_->device();
  auto k = std::make_unique<Kernel>();
  k->name = variant;
  k->bindings = bindings;
  k->access = iface.access;
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
