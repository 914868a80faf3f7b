// Dry runs of `synth`: a preset's tensor table and config.json without writing weights,
// so tests can check real-scale presets (names, shapes, parameter counts) in no time.
// (Internal to the library; the public entry points are in include/kllens/synth.h.)
#pragma once

#include <string>
#include <vector>

#include "kllens/dtype.h"
#include "kllens/safetensors.h"

namespace kllens {

// The tensors synth_model(preset, ..., dtype, ...) writes, in file order.
std::vector<TensorSpec> synth_tensor_specs(const std::string& preset, DType dtype);
// The config.json text synth_model writes.
std::string synth_config_json(const std::string& preset, DType dtype);

}  // namespace kllens
