// Streaming, atomic safetensors writer, see kllens/safetensors.h.
//
// The header must hold every offset, so all tensors are declared up front; the data is
// then produced one tensor at a time into a single reused buffer and appended, so peak
// memory is the largest tensor, not the model.
#include <algorithm>
#include <numeric>
#include <vector>

#include <nlohmann/json.hpp>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/safetensors.h"

namespace kllens {

void write_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                       const std::function<void(size_t index, void* dst, size_t bytes)>& fill,
                       const std::map<std::string, std::string>& metadata) {
  // Data order: larger element types first (stable within a size), as the reference
  // writer does, so that gap-free packing still aligns every tensor to its element size.
  std::vector<size_t> order(specs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(specs[a].dtype) > dtype_size(specs[b].dtype);
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<size_t> bytes(specs.size());
  uint64_t offset = 0;
  for (size_t i : order) {
    const TensorSpec& s = specs[i];
    if (s.name == "__metadata__" || header.contains(s.name))
      fail("{}: tensor name '{}' is reserved or used twice", path, s.name);
    if (dtype_is_quantized(s.dtype))
      fail("{}: tensor '{}': dtype {} has no safetensors spelling", path, s.name,
           dtype_name(s.dtype));
    uint64_t n = dtype_size(s.dtype);
    for (int64_t d : s.shape)
      if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n))
        fail("{}: tensor '{}': bad shape {}", path, s.name, shape_str(s.shape));
    bytes[i] = size_t(n);
    header[s.name] = {
        {"dtype", dtype_name(s.dtype)}, {"shape", s.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }

  // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned.
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();

  AtomicFile out(path);
  out.write(&header_len, 8);  // little-endian host
  out.write(text);
  std::vector<uint8_t> buf;
  for (size_t i : order) {
    buf.resize(bytes[i]);
    fill(i, buf.data(), bytes[i]);
    out.write(buf.data(), bytes[i]);
  }
  out.commit();
}

}  // namespace kllens
