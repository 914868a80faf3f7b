// Device memory: a few large blocks, each one VkDeviceMemory with one VkBuffer over all of
// it, suballocated first-fit. Tensors are (block buffer, offset) ranges; descriptors bind
// the block buffer at the tensor's offset.
//
// Unified memory (integrated GPU, lavapipe): device blocks are device-local, host-visible,
// coherent and persistently mapped, so upload/download are plain memcpy. Otherwise device
// blocks are device-local only and transfers go through host-visible staging blocks.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "kllens/tensor.h"
#include "vulkan/context.h"
#include "vulkan/handles.h"

namespace kllens::vk {

enum class MemoryKind { Device, Staging };

struct Block {
  UniqueMemory memory;                       // owned
  UniqueBuffer buffer;                       // owned; spans the whole block
  void* mapped = nullptr;                    // into memory, when host-visible
  VkDeviceSize size = 0;
  MemoryKind kind = MemoryKind::Device;
  std::map<VkDeviceSize, VkDeviceSize> free; // offset -> bytes, coalesced
};

struct Allocation {
  Block* block = nullptr;                    // borrowed from the Allocator
  VkDeviceSize offset = 0, size = 0;
};

class Allocator {
 public:
  explicit Allocator(std::shared_ptr<Context> ctx);
  ~Allocator() = default;
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  Allocation allocate(VkDeviceSize bytes, MemoryKind kind);
  void release(const Allocation& a);
  const Context& context() const { return *ctx_; }
  VkDeviceSize alignment() const { return align_; }

 private:
  Block& new_block(VkDeviceSize bytes, MemoryKind kind);

  std::shared_ptr<Context> ctx_;             // shared: the device outlives every block
  VkDeviceSize align_ = 256;                 // of every suballocation (offset and size)
  VkDeviceSize block_bytes_ = 0;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Block>> blocks_;  // owned
};

// A kllens::Buffer living in one allocation. host() is the mapped address when the memory
// is host-visible (unified device memory, staging), else null.
class DeviceBuffer final : public kllens::Buffer {
 public:
  DeviceBuffer(std::shared_ptr<Allocator> allocator, size_t bytes, MemoryKind kind);
  ~DeviceBuffer() override;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  VkBuffer vk_buffer() const { return alloc_.block->buffer.get(); }
  VkDeviceSize base() const { return alloc_.offset; }        // offset in vk_buffer()
  VkDeviceSize capacity() const { return alloc_.size; }      // ≥ bytes(), multiple of 256

 private:
  std::shared_ptr<Allocator> allocator_;     // shared: keeps blocks and device alive
  Allocation alloc_;                         // owned range, returned on destruction
};

// The DeviceBuffer behind a tensor of a Vulkan backend; throws for other backends' tensors.
DeviceBuffer& device_buffer(const Tensor& t);

}  // namespace kllens::vk
