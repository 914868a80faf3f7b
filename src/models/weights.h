// Loading checkpoint tensors onto a backend: small parameters converted to F32, linear
// weights kept in their storage type (borrowed from the file mapping where the backend
// allows it).
#pragma once

#include <string>

#include "kllens/backend.h"
#include "kllens/safetensors.h"

namespace kllens {

class WeightLoader {
 public:
  WeightLoader(const TensorStore& store, Backend& backend) : store_(store), backend_(backend) {}

  // Any float tensor, converted to F32 and reshaped to `shape` (element counts must agree
  // with `file_shape`, the shape the checkpoint must have).
  Tensor f32(const std::string& name, const Shape& file_shape, const Shape& shape) const;
  Tensor f32(const std::string& name, const Shape& shape) const { return f32(name, shape, shape); }
  // A float tensor in its storage type (F32, F16 or BF16).
  Tensor stored(const std::string& name, const Shape& shape) const;
  // A linear layer: "<prefix>.weight" [out, in] in its storage type and, if asked for,
  // "<prefix>.bias" [out] as F32. A packed quantised weight (a kllens quantised
  // checkpoint) keeps its type; Q8_C / Q4_C take their per-row scales from
  // "<prefix>.weight_scale" (F32 [out]).
  Weight linear(const std::string& prefix, int64_t out, int64_t in, bool bias) const;

  const TensorStore& store() const { return store_; }

 private:
  const TensorStore& store_;
  Backend& backend_;
};

// Host conversion of a float tensor (F32, F16, BF16) to F32.
std::vector<float> to_f32(const TensorInfo& t);

}  // namespace kllens
