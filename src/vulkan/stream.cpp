// Command recording, barrier placement, descriptor sets, submission and timestamps.
#include "vulkan/stream.h"

#include <algorithm>

#include <fmt/format.h>

#include "vulkan/memory.h"
#include "vulkan/vk_check.h"

namespace kllens::vk {

namespace {
constexpr uint32_t kSetsPerPool = 512;
constexpr uint32_t kMaxBindings = 16;
constexpr uint32_t kMaxQueries = 4096;
}  // namespace

Stream::Stream(std::shared_ptr<Context> ctx, bool profile)
    : ctx_(std::move(ctx)), profile_(profile && ctx_->info().timestamps) {
  VkDevice dev = ctx_->device();
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = ctx_->queue_family();
  VkCommandPool pool = VK_NULL_HANDLE;
  VK_CHECK(vkCreateCommandPool(dev, &pci, nullptr, &pool));
  pool_ = UniqueCommandPool(dev, pool);
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VK_CHECK(vkAllocateCommandBuffers(dev, &ai, &cmd_));
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  VK_CHECK(vkCreateFence(dev, &fci, nullptr, &fence));
  fence_ = UniqueFence(dev, fence);
  if (profile_) {
    VkQueryPoolCreateInfo qci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qci.queryCount = kMaxQueries;
    VkQueryPool qp = VK_NULL_HANDLE;
    VK_CHECK(vkCreateQueryPool(dev, &qci, nullptr, &qp));
    queries_ = UniqueQueryPool(dev, qp);
  }
}

Stream::~Stream() {
  // Work may still be recorded if an exception interrupted an op; it is dropped, but the
  // device must be idle before buffers and pools go away.
  vkDeviceWaitIdle(ctx_->device());
}

// ---- binding -------------------------------------------------------------------------------

BoundTensor Stream::bind(const Tensor& t, size_t elem_bytes, bool write) {
  DeviceBuffer& buf = device_buffer(t);
  const DeviceInfo& info = ctx_->info();
  const VkDeviceSize first = buf.base() + t.offset;
  const VkDeviceSize align = std::max<VkDeviceSize>(info.min_storage_offset_alignment, 4);
  const VkDeviceSize aligned = first / align * align;
  KL_CHECK((first - aligned) % elem_bytes == 0, "tensor offset {} is not a multiple of its {}-byte element",
           t.offset, elem_bytes);
  const VkDeviceSize span = std::max<VkDeviceSize>(t.span_bytes(), 1);
  KL_CHECK(t.offset + span <= buf.capacity(), "tensor view [{}, +{}) outside its buffer of {} bytes",
           t.offset, span, buf.capacity());
  // Round the range to whole 4-byte words; allocations are 256-byte multiples, so it stays
  // inside the allocation.
  const VkDeviceSize range = (first - aligned + span + 3) / 4 * 4;
  KL_CHECK(range <= info.max_storage_buffer_range,
           "a tensor of {} bytes exceeds the device's maxStorageBufferRange ({} bytes)", range,
           info.max_storage_buffer_range);
  keep_.push_back(t.buf);
  BoundTensor b;
  b.binding = {buf.vk_buffer(), aligned, range, write};
  b.elem = uint32_t((first - aligned) / elem_bytes);
  return b;
}

// ---- recording -----------------------------------------------------------------------------

void Stream::begin() {
  if (recording_) return;
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_CHECK(vkBeginCommandBuffer(cmd_, &bi));
  if (profile_) vkCmdResetQueryPool(cmd_, queries_.get(), 0, kMaxQueries);
  queries_used_ = 0;
  labels_.clear();
  recording_ = true;
}

void Stream::order(std::span<const Range> reads, std::span<const Range> writes) {
  auto overlaps = [](const Range& a, const Range& b) {
    return a.buffer == b.buffer && a.begin < b.end && b.begin < a.end;
  };
  auto any_overlap = [&](std::span<const Range> xs, const std::vector<Range>& ys) {
    for (const Range& x : xs)
      for (const Range& y : ys)
        if (overlaps(x, y)) return true;
    return false;
  };
  const bool raw_waw = any_overlap(reads, pending_writes_) || any_overlap(writes, pending_writes_);
  const bool war = any_overlap(writes, pending_reads_);
  if (raw_waw || war) {
    VkPipelineStageFlags src = 0, dst = 0;
    VkAccessFlags dst_access = 0;
    for (const Range& r : pending_writes_) src |= r.stage;
    for (const Range& r : pending_reads_) src |= r.stage;
    for (const Range& r : reads) dst |= r.stage, dst_access |= r.access;
    for (const Range& r : writes) dst |= r.stage, dst_access |= r.access;
    std::vector<VkBufferMemoryBarrier> barriers;
    for (const Range& w : pending_writes_) {
      VkBufferMemoryBarrier b{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
      b.srcAccessMask = w.access;
      b.dstAccessMask = dst_access;
      b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
      b.buffer = w.buffer;
      b.offset = w.begin;
      b.size = w.end - w.begin;
      barriers.push_back(b);
    }
    vkCmdPipelineBarrier(cmd_, src, dst, 0, 0, nullptr, uint32_t(barriers.size()), barriers.data(),
                         0, nullptr);
    pending_writes_.clear();
    pending_reads_.clear();
  }
  pending_reads_.insert(pending_reads_.end(), reads.begin(), reads.end());
  pending_writes_.insert(pending_writes_.end(), writes.begin(), writes.end());
}

VkDescriptorSet Stream::allocate_set(VkDescriptorSetLayout layout) {
  if (set_pool_ < sets_.size() && sets_in_pool_ == kSetsPerPool) ++set_pool_, sets_in_pool_ = 0;
  if (set_pool_ == sets_.size()) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings};
    VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    ci.maxSets = kSetsPerPool;
    ci.poolSizeCount = 1;
    ci.pPoolSizes = &size;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateDescriptorPool(ctx_->device(), &ci, nullptr, &pool));
    sets_.emplace_back(ctx_->device(), pool);
    sets_in_pool_ = 0;
  }
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = sets_[set_pool_].get();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  VK_CHECK(vkAllocateDescriptorSets(ctx_->device(), &ai, &set));
  ++sets_in_pool_;
  return set;
}

void Stream::dispatch(const Kernel& k, std::span<const Binding> bindings, const void* push,
                      uint32_t gx, uint32_t gy, uint32_t gz, const char* label) {
  KL_CHECK(bindings.size() == k.bindings && bindings.size() <= kMaxBindings,
           "{}: {} bindings given, the kernel has {}", k.name, bindings.size(), k.bindings);
  const DeviceInfo& info = ctx_->info();
  KL_CHECK(gx <= info.max_group_count[0] && gy <= info.max_group_count[1] &&
               gz <= info.max_group_count[2],
           "{}: grid {}x{}x{} exceeds the device limit", k.name, gx, gy, gz);
  if (gx == 0 || gy == 0 || gz == 0) return;
  begin();

  std::vector<Range> reads, writes;
  for (const Binding& b : bindings) {
    const Range r{b.buffer, b.offset, b.offset + b.range, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                  VkAccessFlags(b.write ? VK_ACCESS_SHADER_WRITE_BIT : VK_ACCESS_SHADER_READ_BIT)};
    (b.write ? writes : reads).push_back(r);
    // A written binding is usually also read (in-place updates): order it as both.
    if (b.write) reads.push_back({r.buffer, r.begin, r.end, r.stage, VK_ACCESS_SHADER_READ_BIT});
  }
  order(reads, writes);

  VkDescriptorSet set = allocate_set(k.set_layout.get());
  std::vector<VkDescriptorBufferInfo> infos(bindings.size());
  std::vector<VkWriteDescriptorSet> w(bindings.size());
  for (size_t i = 0; i < bindings.size(); ++i) {
    infos[i] = {bindings[i].buffer, bindings[i].offset, bindings[i].range};
    w[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w[i].dstSet = set;
    w[i].dstBinding = uint32_t(i);
    w[i].descriptorCount = 1;
    w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    w[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(ctx_->device(), uint32_t(w.size()), w.data(), 0, nullptr);

  const bool timed = profile_ && queries_used_ + 2 <= kMaxQueries;
  if (timed)
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_.get(), queries_used_);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline.get());
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout.get(), 0, 1, &set, 0, nullptr);
  if (k.push_bytes)
    vkCmdPushConstants(cmd_, k.layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0, k.push_bytes, push);
  vkCmdDispatch(cmd_, gx, gy, gz);
  if (timed) {
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_.get(), queries_used_ + 1);
    queries_used_ += 2;
    labels_.emplace_back(label);
  }
}

void Stream::copy(VkBuffer src, VkDeviceSize src_off, VkBuffer dst, VkDeviceSize dst_off,
                  VkDeviceSize bytes) {
  if (bytes == 0) return;
  begin();
  const Range r{src, src_off, src_off + bytes, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT};
  const Range w{dst, dst_off, dst_off + bytes, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT};
  order({&r, 1}, {&w, 1});
  const VkBufferCopy region{src_off, dst_off, bytes};
  vkCmdCopyBuffer(cmd_, src, dst, 1, &region);
}

// ---- submission ----------------------------------------------------------------------------

void Stream::submit() {
  if (!recording_) return;
  // Make every device write of this command buffer visible to host reads after the wait.
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  VK_CHECK(vkEndCommandBuffer(cmd_));
  recording_ = false;
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  VK_CHECK(vkQueueSubmit(ctx_->queue(), 1, &si, fence_.get()));
  VkFence fence = fence_.get();
  VK_CHECK(vkWaitForFences(ctx_->device(), 1, &fence, VK_TRUE, UINT64_MAX));
  VK_CHECK(vkResetFences(ctx_->device(), 1, &fence));
  VK_CHECK(vkResetCommandBuffer(cmd_, 0));
  for (auto& p : sets_) VK_CHECK(vkResetDescriptorPool(ctx_->device(), p.get(), 0));
  set_pool_ = sets_in_pool_ = 0;
  keep_.clear();
  // Host writes before the next submission are made visible by vkQueueSubmit; device
  // writes of this submission stay pending, so the next command buffer's barriers
  // (whose first scope includes earlier submissions) still order against them.

  if (profile_ && queries_used_) {
    std::vector<uint64_t> ts(queries_used_);
    VK_CHECK(vkGetQueryPoolResults(ctx_->device(), queries_.get(), 0, queries_used_,
                                   ts.size() * 8, ts.data(), 8,
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    for (size_t i = 0; i < labels_.size(); ++i) {
      auto& [count, ns] = totals_[labels_[i]];
      ++count;
      ns += double(ts[2 * i + 1] - ts[2 * i]) * ctx_->info().timestamp_period_ns;
    }
  }
}

std::string Stream::profile_report() const {
  if (!profile_) return "profiling is off (KLLENS_VULKAN_PROFILE=1 or VulkanOptions::profile)\n";
  std::vector<std::pair<std::string, std::pair<int64_t, double>>> rows(totals_.begin(), totals_.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.second > b.second.second; });
  std::string out = fmt::format("{:<28} {:>8} {:>12} {:>12}\n", "kernel", "runs", "total ms", "avg us");
  for (const auto& [label, v] : rows)
    out += fmt::format("{:<28} {:>8} {:>12.3f} {:>12.2f}\n", label, v.first, v.second * 1e-6,
                       v.second * 1e-3 / double(v.first));
  return out;
}

}  // namespace kllens::vk
