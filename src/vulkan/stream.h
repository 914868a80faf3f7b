// The command stream: ops record dispatches into one command buffer; submit() sends it and
// waits. Barriers are inserted only where a dispatch touches a range that an earlier,
// not yet barriered dispatch wrote (read-after-write, write-after-write: a buffer memory
// barrier per written range) or read (write-after-read: an execution dependency).
// Buffers referenced by recorded work are kept alive until the work has finished.
// Profile mode brackets every dispatch with timestamps and sums GPU time per label.
//
// Capture (record once, replay per token): between begin_capture(r) and end_capture() the
// same recording goes into r, a reusable command buffer with its own descriptor sets,
// instead of the stream's one-time buffer; replay(r) submits it after the stream's pending
// work. A captured buffer starts with a global barrier (it may follow anything, including
// its own previous run), and the stream's next command after a replay starts with one too,
// since the stream's range tracking does not see what the replay wrote.
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

// One storage-buffer binding of a dispatch (how it is accessed comes from the kernel).
struct Binding {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0, range = 0;   // offset is a multiple of minStorageBufferOffsetAlignment
};

// A tensor view bound for a kernel: the binding (at the aligned offset at or below the
// view's first byte) and the view's first element relative to it, for the push constants.
struct BoundTensor {
  Binding binding;
  uint32_t elem = 0;
};

// A range of a buffer that a recorded command touched.
struct AccessRange {
  VkBuffer buffer;
  VkDeviceSize begin, end;
  VkPipelineStageFlags stage;  // of the command that touched it
  VkAccessFlags access;
};

// What recorded work does, for `kllens bench` and vulkan_counters(): dispatches and the
// bytes bound for reading and for writing (a binding's whole range; a gather such as
// embed counts its whole table), and host time spent recording and submitting.
struct StreamCounts {
  int64_t dispatches = 0, submits = 0;
  double bytes_read = 0, bytes_written = 0;
  int64_t host_ns = 0;  // in dispatch(), copy() and submission, fence waits excluded
  StreamCounts& operator+=(const StreamCounts& o);
};

// One command buffer and what it needs while it may run: descriptor sets written for its
// dispatches, the buffers they reference, and the ranges written and read since its last
// barrier. Made by the Stream (its own one-time buffer) or for a captured graph (reusable).
struct Recording {
  Recording(const Context& ctx, bool one_time);
  ~Recording() = default;
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  UniqueCommandPool pool;                     // owned
  VkCommandBuffer cmd = VK_NULL_HANDLE;       // owned by pool
  bool one_time = true;                       // re-recorded after every submission
  bool open = false;                          // between vkBegin- and vkEndCommandBuffer
  bool barrier_all = false;                   // the next command waits for all earlier work
  std::vector<UniqueDescriptorPool> sets;     // owned; a one-time buffer resets them
  size_t set_pool = 0, sets_in_pool = 0;
  std::vector<AccessRange> pending_writes, pending_reads;  // since the last barrier
  std::vector<std::shared_ptr<const void>> keep;           // shared: alive while it may run
  StreamCounts counts;  // of the work recorded in it (since its last submission if one-time)
};

class Stream {
 public:
  Stream(std::shared_ptr<Context> ctx, bool profile);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Binds a view whose elements are elem_bytes wide. Keeps its buffer alive until the
  // recorded work completes. Throws if the bound range exceeds maxStorageBufferRange.
  BoundTensor bind(const Tensor& t, size_t elem_bytes);

  // bindings[i] is binding i of k; each is ordered by the access k's SPIR-V declares.
  void dispatch(const Kernel& k, std::span<const Binding> bindings, const void* push,
                uint32_t gx, uint32_t gy, uint32_t gz, const char* label);
  // Buffer copies (staging), ordered against compute in both directions.
  void copy(VkBuffer src, VkDeviceSize src_off, VkBuffer dst, VkDeviceSize dst_off,
            VkDeviceSize bytes);
  void keep_alive(std::shared_ptr<const void> p) { cur_->keep.push_back(std::move(p)); }

  bool empty() const { return !main_.open; }
  // Ends the command buffer (making every write visible to the host), submits it, waits,
  // and releases what the work held. No-op when nothing was recorded.
  void submit();

  // Records into `r` (a reusable Recording, not yet begun) until end_capture(), which ends
  // it. No timestamps are taken inside a capture.
  void begin_capture(Recording& r);
  void end_capture();
  bool capturing() const { return cur_ != &main_; }
  // Submits the stream's pending work, then the ended capture `r`, and waits for both.
  void replay(Recording& r);

  std::string profile_report() const;
  // Work submitted so far (replays count their recording's dispatches each time).
  const StreamCounts& counts() const { return totals_counts_; }

 private:
  void begin(Recording& r);
  void end(Recording& r);  // host-read barrier, vkEndCommandBuffer
  void submit_and_wait(VkCommandBuffer cmd);
  // Inserts the barrier a command with these reads and writes needs, then records them.
  void order(std::span<const AccessRange> reads, std::span<const AccessRange> writes);
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);

  std::shared_ptr<Context> ctx_;              // shared: the device outlives the stream
  UniqueFence fence_;                         // owned
  Recording main_;                            // owned: the stream's one-time buffer
  Recording* cur_ = &main_;                   // borrowed: main_, or a capture's recording
  // profiling
  bool profile_ = false;
  UniqueQueryPool queries_;                   // owned
  uint32_t queries_used_ = 0;
  std::vector<std::string> labels_;           // one per timed dispatch in this submission
  std::map<std::string, std::pair<int64_t, double>> totals_;  // label -> (count, ns)
  StreamCounts totals_counts_;                // submitted work
};

}  // namespace kllens::vk
