// kllens quantised checkpoints: the folder `kllens quantize` writes and every kllens
// command loads as MODEL.
//
// Layout (a Hugging Face model folder):
//   config.json         the source's config plus a "quantization_config" block:
//                       {"quant_method": "kllens", "format": "kllens", "version": 1,
//                        "plan": NAME, "layers": {LAYER: "f16" | "q8" | "q4" | "q8_g32" ...}}
//                       naming every linear layer's type (LAYER = the weight's name
//                       without ".weight").
//   model.safetensors   every tensor of the source; quantised layers packed
//                       (safetensors.h: U8 rows + the "kllens.packed" metadata), Q8_C /
//                       Q4_C with their F32 row scales in LAYER.weight_scale; "f16" layers
//                       stored as F32 become F16 (F16 and BF16 are kept as they are).
//   tokenizer files     copied (tokenizer.json, tokenizer_config.json, ...).
// The values are those of the host quantiser (src/quant), byte for byte what
// Backend::quantize_weight makes in memory, so the folder runs exactly like the source
// with the same plan applied on load (deploy_plan in lens.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kllens/quant.h"
#include "kllens/safetensors.h"

namespace kllens {

// One linear layer's type in a plan: nullopt = "f16" (not quantised).
struct LayerType {
  std::string name;  // the weight's name without ".weight"
  std::optional<QuantSpec> spec;
};

// "f16" or the spec's name.
std::string layer_type_name(const std::optional<QuantSpec>& spec);

// What write_quantized_checkpoint wrote.
struct CheckpointSummary {
  uint64_t file_bytes = 0;     // model.safetensors
  uint64_t linear_bytes = 0;   // the plan's layers as stored: packed rows + scales (or F16)
  int64_t linear_weights = 0;  // their element count
  int64_t params = 0;          // every parameter (a tied head counted once)
  struct Row { std::string type; int64_t layers = 0, weights = 0; uint64_t bytes = 0; };
  std::vector<Row> by_type;    // per layer type, in first-seen order
  double bits_per_weight() const { return linear_weights ? 8.0 * double(linear_bytes) / double(linear_weights) : 0; }
};

// Writes the quantised checkpoint of the model folder `src` under `plan` (every layer must
// be a float [N, K] weight of `src`, or already stored in the type the plan asks for) to
// the folder `out`, atomically: everything goes to a temporary folder beside it that is
// renamed to `out` at the end. An existing `out` is replaced only if it is an earlier
// kllens quantised checkpoint. Throws one-line kllens::Error on bad input.
CheckpointSummary write_quantized_checkpoint(const std::string& src, const std::vector<LayerType>& plan,
                                             const std::string& plan_name, const std::string& out);

// DIR/config.json's quantization_config, if it has one, checked against the checkpoint:
// the method must be kllens's and every layer stored in the type it names. Returns the
// layers (empty for an unquantised folder).
std::vector<LayerType> check_quantization_config(const std::string& dir, const TensorStore& store);

}  // namespace kllens
