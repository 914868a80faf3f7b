// Command recording, barrier placement, descriptor sets, submission and timestamps.
#include "vulkan/stream.h"

#include <chrono>

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

Recording::Recording(const Context& ctx, bool one_time_) : one_time(one_time_) {
  VkDevice dev = ctx.device();
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  // The stream's buffer is reset after each submission; a captured one is never reset.
  pci.flags = one_time ? VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT : 0;
  pci.queueFamilyIndex = ctx.queue_family();
  VkCommandPool p = VK_NULL_HANDLE;
  VK_CHECK(vkCreateCommandPool(dev, &pci, nullptr, &p));
  pool = UniqueCommandPool(dev, p);
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = p;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VK_CHECK(vkAllocateCommandBuffers(dev, &ai, &cmd));
}

Stream::Stream(std::shared_ptr<Context> ctx, bool profile)
    : ctx_(std::move(ctx)), main_(*ctx_, true), profile_(profile && ctx_->info().timestamps) {
  VkDevice dev = ctx_->device();
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

BoundTensor Stream::bind(const Tensor& t, size_t elem_bytes) {
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
  cur_->keep.push_back(t.buf);
  BoundTensor b;
  b.binding = {buf.vk_buffer(), aligned, range};
  b.elem = uint32_t((first - aligned) / elem_bytes);
  return b;
}

// ---- recording -----------------------------------------------------------------------------

void Stream::begin(Recording& r) {
  if (r.open) return;
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = r.one_time ? VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT : 0;
  VK_CHECK(vkBeginCommandBuffer(r.cmd, &bi));
  r.open = true;
  if (&r == &main_) {
    if (profile_) vkCmdResetQueryPool(r.cmd, queries_.get(), 0, kMaxQueries);
    queries_used_ = 0;
    labels_.clear();
  }
  if (r.barrier_all) {
    // Everything submitted earlier (a replayed graph, or a graph's own previous run) is
    // finished and made visible before this buffer's first command.
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(r.cmd, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
    r.pending_writes.clear();
    r.pending_reads.clear();
    r.barrier_all = false;
  }
}

void Stream::order(std::span<const AccessRange> reads, std::span<const AccessRange> writes) {
  std::vector<AccessRange>& pending_writes_ = cur_->pending_writes;
  std::vector<AccessRange>& pending_reads_ = cur_->pending_reads;
  auto overlaps = [](const AccessRange& a, const AccessRange& b) {
    return a.buffer == b.buffer && a.begin < b.end && b.begin < a.end;
  };
  auto any_overlap = [&](std::span<const AccessRange> xs, const std::vector<AccessRange>& ys) {
    for (const AccessRange& x : xs)
      for (const AccessRange& y : ys)
        if (overlaps(x, y)) return true;
    return false;
  };
  const bool raw_waw = any_overlap(reads, pending_writes_) || any_overlap(writes, pending_writes_);
  const bool war = any_overlap(writes, pending_reads_);
  if (raw_waw || war) {
    VkPipelineStageFlags src = 0, dst = 0;
    VkAccessFlags dst_access = 0;
    for (const AccessRange& r : pending_writes_) src |= r.stage;
    for (const AccessRange& r : pending_reads_) src |= r.stage;
    for (const AccessRange& r : reads) dst |= r.stage, dst_access |= r.access;
    for (const AccessRange& r : writes) dst |= r.stage, dst_access |= r.access;
    std::vector<VkBufferMemoryBarrier> barriers;
    for (const AccessRange& w : pending_writes_) {
      VkBufferMemoryBarrier b{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
      b.srcAccessMask = w.access;
      b.dstAccessMask = dst_access;
      b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
      b.buffer = w.buffer;
      b.offset = w.begin;
      b.size = w.end - w.begin;
      barriers.push_back(b);
    }
    vkCmdPipelineBarrier(cur_->cmd, src, dst, 0, 0, nullptr, uint32_t(barriers.size()), barriers.data(),
                         0, nullptr);
    pending_writes_.clear();
    pending_reads_.clear();
  }
  pending_reads_.insert(pending_reads_.end(), reads.begin(), reads.end());
  pending_writes_.insert(pending_writes_.end(), writes.begin(), writes.end());
}

VkDescriptorSet Stream::allocate_set(VkDescriptorSetLayout layout) {
  Recording& r = *cur_;
  if (r.set_pool < r.sets.size() && r.sets_in_pool == kSetsPerPool) ++r.set_pool, r.sets_in_pool = 0;
  if (r.set_pool == r.sets.size()) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings};
    VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    ci.maxSets = kSetsPerPool;
    ci.poolSizeCount = 1;
    ci.pPoolSizes = &size;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateDescriptorPool(ctx_->device(), &ci, nullptr, &pool));
    r.sets.emplace_back(ctx_->device(), pool);
    r.sets_in_pool = 0;
  }
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = r.sets[r.set_pool].get();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  VK_CHECK(vkAllocateDescriptorSets(ctx_->device(), &ai, &set));
  ++r.sets_in_pool;
  return set;
}

StreamCounts& StreamCounts::operator+=(const StreamCounts& o) {
  dispatches += o.dispatches;
  submits += o.submits;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  host_ns += o.host_ns;
  return *this;
}

namespace {
int64_t ns_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

void Stream::dispatch(const Kernel& k, std::span<const Binding> bindings, const void* push,
                      uint32_t gx, uint32_t gy, uint32_t gz, const char* label) {
  const auto t0 = std::chrono::steady_clock::now();
  KL_CHECK(bindings.size() == k.bindings && bindings.size() <= kMaxBindings,
           "{}: {} bindings given, the kernel has {}", k.name, bindings.size(), k.bindings);
  const DeviceInfo& info = ctx_->info();
  KL_CHECK(gx <= info.max_group_count[0] && gy <= info.max_group_count[1] &&
               gz <= info.max_group_count[2],
           "{}: grid {}x{}x{} exceeds the device limit", k.name, gx, gy, gz);
  if (gx == 0 || gy == 0 || gz == 0) return;
  begin(*cur_);

  // Reads and writes as the shader declares them: a read-write binding is ordered as both,
  // a writeonly one only as a write.
  std::vector<AccessRange> read_ranges, write_ranges;
  for (size_t i = 0; i < bindings.size(); ++i) {
    const Binding& b = bindings[i];
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    (writes(k.access[i]) ? cur_->counts.bytes_written : cur_->counts.bytes_read) += double(b.range);
    if (writes(k.access[i]))
      write_ranges.push_back({b.buffer, b.offset, b.offset + b.range, stage, VK_ACCESS_SHADER_WRITE_BIT});
    if (reads(k.access[i]))
      read_ranges.push_back({b.buffer, b.offset, b.offset + b.range, stage, VK_ACCESS_SHADER_READ_BIT});
  }
  order(read_ranges, write_ranges);

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

  VkCommandBuffer cmd = cur_->cmd;
  const bool timed = profile_ && !capturing() && queries_used_ + 2 <= kMaxQueries;
  if (timed)
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_.get(), queries_used_);
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline.get());
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout.get(), 0, 1, &set, 0, nullptr);
  if (k.push_bytes)
    vkCmdPushConstants(cmd, k.layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0, k.push_bytes, push);
  vkCmdDispatch(cmd, gx, gy, gz);
  if (timed) {
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_.get(), queries_used_ + 1);
    queries_used_ += 2;
    labels_.emplace_back(label);
  }
  cur_->counts.dispatches++;
  cur_->counts.host_ns += ns_since(t0);
}

void Stream::copy(VkBuffer src, VkDeviceSize src_off, VkBuffer dst, VkDeviceSize dst_off,
                  VkDeviceSize bytes) {
  if (bytes == 0) return;
  const auto t0 = std::chrono::steady_clock::now();
  begin(*cur_);
  const AccessRange r{src, src_off, src_off + bytes, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT};
  const AccessRange w{dst, dst_off, dst_off + bytes, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT};
  order({&r, 1}, {&w, 1});
  const VkBufferCopy region{src_off, dst_off, bytes};
  vkCmdCopyBuffer(cur_->cmd, src, dst, 1, &region);
  cur_->counts.host_ns += ns_since(t0);
}

// ---- submission ----------------------------------------------------------------------------

void Stream::end(Recording& r) {
  // Make every device write of this command buffer visible to host reads after the wait.
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(r.cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  VK_CHECK(vkEndCommandBuffer(r.cmd));
  r.open = false;
}

void Stream::submit_and_wait(VkCommandBuffer cmd) {
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  const auto t0 = std::chrono::steady_clock::now();
  VkResult submitted = ctx_->injected(VulkanFault::device_lost);  // the fault hook
  if (submitted == VK_SUCCESS) submitted = vkQueueSubmit(ctx_->queue(), 1, &si, fence_.get());
  if (submitted != VK_SUCCESS) throw_vk_error(submitted, "vkQueueSubmit(...)", __FILE__, __LINE__);
  totals_counts_.submits++;
  totals_counts_.host_ns += ns_since(t0);
  VkFence fence = fence_.get();
  VK_CHECK(vkWaitForFences(ctx_->device(), 1, &fence, VK_TRUE, UINT64_MAX));
  VK_CHECK(vkResetFences(ctx_->device(), 1, &fence));
}

void Stream::submit() {
  KL_CHECK(!capturing(), "sync/download while a graph is being captured");
  if (!main_.open) return;
  end(main_);
  submit_and_wait(main_.cmd);
  totals_counts_ += main_.counts;
  main_.counts = {};
  VK_CHECK(vkResetCommandBuffer(main_.cmd, 0));
  for (auto& p : main_.sets) VK_CHECK(vkResetDescriptorPool(ctx_->device(), p.get(), 0));
  main_.set_pool = main_.sets_in_pool = 0;
  main_.keep.clear();
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

// ---- capture and replay --------------------------------------------------------------------

void Stream::begin_capture(Recording& r) {
  KL_CHECK(!capturing(), "a capture is already in progress");
  KL_CHECK(!r.one_time && !r.open, "begin_capture: needs a fresh reusable recording");
  r.barrier_all = true;  // a replay may follow anything, including its own previous run
  begin(r);
  cur_ = &r;
}

void Stream::end_capture() {
  KL_CHECK(capturing(), "end_capture without begin_capture");
  end(*cur_);
  totals_counts_.host_ns += cur_->counts.host_ns;
  cur_ = &main_;
}

void Stream::replay(Recording& r) {
  KL_CHECK(!capturing(), "replay while a graph is being captured");
  KL_CHECK(!r.one_time && !r.open, "replay: the recording is not an ended capture");
  submit();
  submit_and_wait(r.cmd);
  StreamCounts run = r.counts;  // its recording's host time was counted once, at capture
  run.host_ns = 0;
  totals_counts_ += run;
  // The stream's range tracking has not seen the replay's writes: wait for all of them.
  main_.barrier_all = true;
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
