// The command stream: ops record dispatches into one command buffer; submit() sends it and
// waits. Barriers are inserted only where a dispatch touches a range that an earlier,
// not yet barriered dispatch wrote (read-after-write, write-after-write: a buffer memory
// barrier per written range) or read (write-after-read: an execution dependency).
// Buffers referenced by recorded work are kept alive until the work has finished.
// Profile mode brackets every dispatch with timestamps and sums GPU time per label.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kllens/tensor.h"
#include "vulkan/context.h"
#include "vulkan/handles.h"
#include "vulkan/pipeline.h"

namespace kllens::vk {

// One storage-buffer binding of a dispatch.
struct Binding {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0, range = 0;   // offset is a multiple of minStorageBufferOffsetAlignment
  bool write = false;
};

// A tensor view bound for a kernel: the binding (at the aligned offset at or below the
// view's first byte) and the view's first element relative to it, for the push constants.
struct BoundTensor {
  Binding binding;
  uint32_t elem = 0;
};

class Stream {
 public:
  Stream(std::shared_ptr<Context> ctx, bool profile);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Binds a view whose elements are elem_bytes wide. Keeps its buffer alive until the
  // recorded work completes. Throws if the bound range exceeds maxStorageBufferRange.
  BoundTensor bind(const Tensor& t, size_t elem_bytes, bool write);

  void dispatch(const Kernel& k, std::span<const Binding> bindings, const void* push,
                uint32_t gx, uint32_t gy, uint32_t gz, const char* label);
  // Buffer copies (staging), ordered against compute in both directions.
  void copy(VkBuffer src, VkDeviceSize src_off, VkBuffer dst, VkDeviceSize dst_off,
            VkDeviceSize bytes);
  void keep_alive(std::shared_ptr<const void> p) { keep_.push_back(std::move(p)); }

  bool empty() const { return !recording_; }
  // Ends the command buffer (making every write visible to the host), submits it, waits,
  // and releases what the work held. No-op when nothing was recorded.
  void submit();
  std::string profile_report() const;

 private:
  struct Range {
    VkBuffer buffer;
    VkDeviceSize begin, end;
    VkPipelineStageFlags stage;  // of the command that touched it
    VkAccessFlags access;
  };
  void begin();
  // Inserts the barrier a command with these reads and writes needs, then records them.
  void order(std::span<const Range> reads, std::span<const Range> writes);
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);

  std::shared_ptr<Context> ctx_;              // shared: the device outlives the stream
  UniqueCommandPool pool_;                    // owned
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;      // owned by pool_
  UniqueFence fence_;                         // owned
  std::vector<UniqueDescriptorPool> sets_;    // owned; reset after each submit
  size_t set_pool_ = 0, sets_in_pool_ = 0;
  bool recording_ = false;
  std::vector<Range> pending_writes_, pending_reads_;   // since the last barrier
  std::vector<std::shared_ptr<const void>> keep_;       // shared: alive until submit()
  // profiling
  bool profile_ = false;
  UniqueQueryPool queries_;                   // owned
  uint32_t queries_used_ = 0;
  std::vector<std::string> labels_;           // one per timed dispatch in this submission
  std::map<std::string, std::pair<int64_t, double>> totals_;  // label -> (count, ns)
};

}  // namespace kllens::vk
