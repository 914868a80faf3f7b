// Capture and replay on the Vulkan backend (Backend::begin_capture / end_capture / replay):
// while a capture is open, the Stream records into the graph's reusable command buffer and
// upload() becomes a copy from a staging buffer the graph owns (an input), so a replay
// runs the recorded work on whatever the host last wrote into the inputs.
#include "vulkan/graph.h"

#include <cstring>

#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

size_t VulkanGraph::input_bytes(size_t i) const {
  KL_CHECK(i < inputs_.size(), "graph input {} of {}", i, inputs_.size());
  return inputs_[i].bytes;
}

void VulkanGraph::set_input(size_t i, const void* src) {
  KL_CHECK(i < inputs_.size(), "graph input {} of {}", i, inputs_.size());
  // Host-coherent staging memory, and no replay is in flight (replay waits), so a plain
  // copy is visible to the next submission.
  std::memcpy(inputs_[i].staging->host(), src, inputs_[i].bytes);
}

// ---- the backend's side ----------------------------------------------------------------------

bool VulkanBackend::begin_capture() {
  KL_CHECK(!capture_, "begin_capture: a capture is already open");
  capture_ = std::make_unique<VulkanGraph>(ctx_);
  stream_->begin_capture(capture_->recording());
  return true;
}

std::unique_ptr<Graph> VulkanBackend::end_capture() {
  KL_CHECK(capture_ != nullptr, "end_capture without begin_capture");
  stream_->end_capture();
  ctx_->check_validation("capture");
  return std::move(capture_);
}

void VulkanBackend::replay(Graph& graph) {
  auto* g = dynamic_cast<VulkanGraph*>(&graph);
  KL_CHECK(g != nullptr, "replay: not a graph of a Vulkan backend");
  stream_->replay(g->recording());
  ctx_->check_validation("replay");
}

// An upload while capturing: the bytes go to a staging buffer owned by the graph, and the
// graph copies them into `dst` each time it runs.
void VulkanBackend::upload_captured(const Tensor& dst, const void* src, size_t bytes) {
  auto staging = std::make_shared<DeviceBuffer>(allocator_, bytes, MemoryKind::Staging);
  std::memcpy(staging->host(), src, bytes);
  DeviceBuffer& buf = device_buffer(dst);
  stream_->copy(staging->vk_buffer(), staging->base(), buf.vk_buffer(), buf.base() + dst.offset, bytes);
  stream_->keep_alive(staging);
  stream_->keep_alive(dst.buf);
  capture_->add_input(std::move(staging), bytes);
}

}  // namespace kllens::vk
