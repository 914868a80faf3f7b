// The backends every benchmark runs on: the CPU backend, and the Vulkan backend when a
// device is there (lavapipe on a machine without a GPU; KLLENS_VULKAN_DEVICE picks one).
// Made once per process and shared, so pipelines and memory blocks are reused.
#pragma once

#include <string>
#include <vector>

#include "kllens/backend.h"

namespace kllens::bench {

struct NamedBackend {
  std::string name;   // "cpu" or "vulkan", the second part of every benchmark name
  Backend* backend;   // owned by backends()' storage, alive until exit
};

const std::vector<NamedBackend>& backends();

}  // namespace kllens::bench
