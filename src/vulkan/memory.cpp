// Block suballocation of device and staging memory (see memory.h).
#include "vulkan/memory.h"

#include <algorithm>

#include "vulkan/vk_check.h"

namespace kllens::vk {

namespace {
constexpr VkDeviceSize kBlockBytes = VkDeviceSize(128) << 20;
VkDeviceSize round_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }
}  // namespace

Allocator::Allocator(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {
  const DeviceInfo& info = ctx_->info();
  align_ = std::max<VkDeviceSize>({256, info.min_storage_offset_alignment, info.non_coherent_atom});
  block_bytes_ = std::min<VkDeviceSize>(kBlockBytes, info.max_allocation ? info.max_allocation : kBlockBytes);
}

Block& Allocator::new_block(VkDeviceSize bytes, MemoryKind kind) {
  const DeviceInfo& info = ctx_->info();
  KL_CHECK(info.max_allocation == 0 || bytes <= info.max_allocation,
           "Vulkan allocation of {} bytes exceeds the device limit of {}", bytes, info.max_allocation);
  auto block = std::make_unique<Block>();
  block->size = bytes;
  block->kind = kind;
  VkDevice dev = ctx_->device();

  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
              VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buf = VK_NULL_HANDLE;
  VK_CHECK(vkCreateBuffer(dev, &bci, nullptr, &buf));
  block->buffer = UniqueBuffer(dev, buf);

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, buf, &req);
  int type = -1;
  if (kind == MemoryKind::Staging) {
    type = ctx_->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                                     VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (type < 0)
      type = ctx_->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  } else if (info.unified_memory) {
    type = ctx_->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                                     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  } else {
    type = ctx_->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  }
  KL_CHECK(type >= 0, "no suitable Vulkan memory type for {} bytes", bytes);

  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = uint32_t(type);
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VkResult allocated = ctx_->injected(VulkanFault::out_of_device_memory);  // the fault hook
  if (allocated == VK_SUCCESS) allocated = vkAllocateMemory(dev, &mai, nullptr, &mem);
  if (allocated != VK_SUCCESS) throw_vk_error(allocated, "vkAllocateMemory(...)", __FILE__, __LINE__);
  block->memory = UniqueMemory(dev, mem);
  VK_CHECK(vkBindBufferMemory(dev, buf, mem, 0));
  if (kind == MemoryKind::Staging || info.unified_memory)
    VK_CHECK(vkMapMemory(dev, mem, 0, VK_WHOLE_SIZE, 0, &block->mapped));
  block->free[0] = bytes;
  blocks_.push_back(std::move(block));
  return *blocks_.back();
}

Allocation Allocator::allocate(VkDeviceSize bytes, MemoryKind kind) {
  const VkDeviceSize size = round_up(std::max<VkDeviceSize>(bytes, 1), align_);
  std::lock_guard lock(mutex_);
  for (auto& b : blocks_) {
    if (b->kind != kind) continue;
    for (auto it = b->free.begin(); it != b->free.end(); ++it) {
      if (it->second < size) continue;
      const VkDeviceSize off = it->first, rest = it->second - size;
      b->free.erase(it);
      if (rest) b->free[off + size] = rest;
      return {b.get(), off, size};
    }
  }
  // A tensor larger than a block gets a block of its own.
  Block& b = new_block(std::max(size, block_bytes_), kind);
  const VkDeviceSize rest = b.size - size;
  b.free.clear();
  if (rest) b.free[size] = rest;
  return {&b, 0, size};
}

void Allocator::release(const Allocation& a) {
  std::lock_guard lock(mutex_);
  auto& fl = a.block->free;
  auto it = fl.emplace(a.offset, a.size).first;
  if (auto next = std::next(it); next != fl.end() && it->first + it->second == next->first) {
    it->second += next->second;
    fl.erase(next);
  }
  if (it != fl.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      fl.erase(it);
    }
  }
}

// ---- buffers -------------------------------------------------------------------------------

DeviceBuffer::DeviceBuffer(std::shared_ptr<Allocator> allocator, size_t bytes, MemoryKind kind)
    : kllens::Buffer(bytes, nullptr), allocator_(std::move(allocator)),
      alloc_(allocator_->allocate(bytes, kind)) {
  if (alloc_.block->mapped) host_ = static_cast<char*>(alloc_.block->mapped) + alloc_.offset;
}

DeviceBuffer::~DeviceBuffer() { allocator_->release(alloc_); }

DeviceBuffer& device_buffer(const Tensor& t) {
  KL_CHECK(t.buf != nullptr, "empty tensor passed to the Vulkan backend");
  auto* b = dynamic_cast<DeviceBuffer*>(t.buf.get());
  KL_CHECK(b != nullptr, "tensor does not belong to a Vulkan backend");
  return *b;
}

}  // namespace kllens::vk
