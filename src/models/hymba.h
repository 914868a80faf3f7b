// Hymba (HymbaForCausalLM, nvidia/Hymba-1.5B-Base remote code) on any backend.
#pragma once

#include <memory>

#include "kllens/model.h"
#include "kllens/safetensors.h"

namespace kllens {

std::unique_ptr<Model> load_hymba(const ModelConfig& config, const TensorStore& store,
                                  Backend& backend);

}  // namespace kllens
