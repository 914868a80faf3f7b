// Mamba-1 (MambaForCausalLM) on any backend.
#pragma once

#include <memory>

#include "kllens/model.h"
#include "kllens/safetensors.h"

namespace kllens {

std::unique_ptr<Model> load_mamba1(const ModelConfig& config, const TensorStore& store,
                                   Backend& backend);

}  // namespace kllens
