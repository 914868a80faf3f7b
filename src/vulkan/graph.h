// A captured Vulkan graph (kllens::Graph): a reusable command buffer recorded once by the
// Stream, and the host-visible staging buffers that uploads made during the capture turned
// into (the graph's inputs: each replay copies them into place before anything reads it).
#pragma once

#include <memory>
#include <vector>

#include "kllens/backend.h"
#include "vulkan/memory.h"
#include "vulkan/stream.h"

namespace kllens::vk {

class VulkanGraph final : public kllens::Graph {
 public:
  explicit VulkanGraph(std::shared_ptr<Context> ctx)
      : ctx_(std::move(ctx)), recording_(std::make_unique<Recording>(*ctx_, false)) {}
  VulkanGraph(const VulkanGraph&) = delete;
  VulkanGraph& operator=(const VulkanGraph&) = delete;

  size_t inputs() const override { return inputs_.size(); }
  size_t input_bytes(size_t i) const override;
  void set_input(size_t i, const void* src) override;

  Recording& recording() { return *recording_; }
  void add_input(std::shared_ptr<DeviceBuffer> staging, size_t bytes) {
    inputs_.push_back({std::move(staging), bytes});
  }

 private:
  struct Input {
    std::shared_ptr<DeviceBuffer> staging;  // shared with the recording's keep list
    size_t bytes = 0;
  };
  std::shared_ptr<Context> ctx_;            // shared: the device outlives the recording
  std::unique_ptr<Recording> recording_;    // owned
  std::vector<Input> inputs_;
};

}  // namespace kllens::vk
