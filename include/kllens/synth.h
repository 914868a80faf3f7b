// Synthetic models: random weights with the exact config.json and tensor names of a real
// checkpoint, so real-scale work runs without downloading anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kllens/dtype.h"

namespace kllens {

std::vector<std::string> synth_presets();

// Writes DIR/config.json and DIR/model.safetensors (atomically) for `preset`, weights in
// `dtype` (F32, F16 or BF16), drawn from a generator seeded with `seed`. The weights
// follow the checkpoints' initialisation (A_log = log(1..N), Δ bias from dt ∈ [1e-3, 0.1],
// D = 1, unit norms), so activations stay in the real models' range.
void synth_model(const std::string& preset, const std::string& dir, DType dtype, uint64_t seed);

}  // namespace kllens
