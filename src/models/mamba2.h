// Mamba-2 (Mamba2ForCausalLM, and mamba_ssm's naming) on any backend.
#pragma once

#include <memory>

#include "kllens/model.h"
#include "kllens/safetensors.h"

namespace kllens {

std::unique_ptr<Model> load_mamba2(const ModelConfig& config, const TensorStore& store,
                                   Backend& backend);

}  // namespace kllens
