// Checkpoint tensors onto a backend.
#include "models/weights.h"

#include <vector>

#include "kllens/error.h"

namespace kllens {

std::vector<float> to_f32(const TensorInfo& t) {
  const int64_t n = shape_numel(t.shape);
  std::vector<float> v(size_t(n), 0.f);
  switch (t.dtype) {
    case DType::F32: std::memcpy(v.data(), t.data, size_t(n) * 4); break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        v[size_t(i)] = f16_to_f32(h);
      }
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        v[size_t(i)] = bf16_to_f32(h);
      }
      break;
    default:
      fail("{}: tensor '{}' has dtype {}, expected a float type", t.file, t.name,
           dtype_name(t.dtype));
  }
  return v;
}

Tensor WeightLoader::f32(const std::string& name, const Shape& file_shape,
                         const Shape& shape) const {
  const TensorInfo& info = store_.get(name, file_shape);
  std::vector<float> v = to_f32(info);
  Tensor t = backend_.alloc(DType::F32, shape);
  backend_.upload(t, v.data());
  return t;
}

Tensor WeightLoader::stored(const std::string& name, const Shape& shape) const {
  const TensorInfo& info = store_.get(name, shape);
  if (info.dtype != DType::F32 && info.dtype != DType::F16 && info.dtype != DType::BF16)
    fail("{}: tensor '{}' has dtype {}, expected F32, F16 or BF16", info.file, name,
         dtype_name(info.dtype));
  return backend_.import_host(store_.owner(name), info.data, info.dtype, shape);
}

Weight WeightLoader::linear(const std::string& prefix, int64_t out, int64_t in, bool bias) const {
  Weight w;
  const std::string name = prefix + ".weight";
  const TensorInfo& info = store_.get(name, {out, in});
  if (dtype_is_quantized(info.dtype)) {
    w.w = backend_.import_host(store_.owner(name), info.data, info.dtype, {out, in});
    if (info.dtype == DType::Q8_C || info.dtype == DType::Q4_C) w.scale = f32(name + "_scale", {out});
  } else {
    w.w = stored(name, {out, in});
  }
  if (bias) w.bias = f32(prefix + ".bias", {out});
  return w;
}

}  // namespace kllens
