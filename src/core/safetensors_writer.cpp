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

namespace {

// The alignment a tensor needs in a mapping: the element size of plain types, 4 for the
// padded rows of Q8_C / Q4_C, 2 for the FP16 scale that starts each Q8_0 / Q4_0 block.
// Every tensor's size is a multiple of its own alignment.
size_t alignment(DType t) {
  if (t == DType::Q8_C || t == DType::Q4_C) return 4;
  if (t == DType::Q8_0 || t == DType::Q4_0) return 2;
  return dtype_size(t);
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                       const std::function<void(size_t index, void* dst, size_t bytes)>& fill,
                       const std::map<std::string, std::string>& metadata) {
  // Data order: larger alignments first (stable within one), as the reference writer
  // orders by element size, so that gap-free packing still aligns every tensor in a
  // mapping. Every size is a multiple of its own alignment, so the order keeps them all.
  std::vector<size_t> order(specs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return alignment(specs[a].dtype) > alignment(specs[b].dtype);
  });

  nlohmann::json header = nlohmann::json::object();
  std::map<std::string, std::string> meta = metadata;
  if (meta.contains(kPackedMetadataKey))
    fail("{}: metadata key '{}' is reserved for packed tensors", path, kPackedMetadataKey);
  nlohmann::ordered_json packed = nlohmann::ordered_json::object();
  std::vector<size_t> bytes(specs.size());
  uint64_t offset = 0;
  for (size_t i : order) {
    const TensorSpec& s = specs[i];
    if (s.name == "__metadata__" || header.contains(s.name))
      fail("{}: tensor name '{}' is reserved or used twice", path, s.name);
    for (int64_t d : s.shape)
      if (d < 0) fail("{}: tensor '{}': bad shape {}", path, s.name, shape_str(s.shape));
    // A quantised [N, K] matrix is stored as its packed rows, U8 [N, row bytes].
    Shape file_shape = s.shape;
    uint64_t n = 1;
    std::string file_dtype = "U8";
    if (dtype_is_quantized(s.dtype)) {
      if (s.shape.size() != 2)
        fail("{}: tensor '{}': a {} tensor must be [N, K], got {}", path, s.name, dtype_name(s.dtype),
             shape_str(s.shape));
      file_shape = {s.shape[0], int64_t(dtype_row_bytes(s.dtype, s.shape[1]))};
      packed[s.name] = {{"dtype", dtype_name(s.dtype)}, {"shape", s.shape}};
    } else {
      n = dtype_size(s.dtype);
      file_dtype = dtype_name(s.dtype);
    }
    for (int64_t d : file_shape)
      if (__builtin_mul_overflow(n, uint64_t(d), &n))
        fail("{}: tensor '{}': bad shape {}", path, s.name, shape_str(s.shape));
    bytes[i] = size_t(n);
    header[s.name] = {{"dtype", file_dtype},
                      {"shape", file_shape},
                      {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  if (!packed.empty()) meta[kPackedMetadataKey] = packed.dump();
  if (!meta.empty()) header["__metadata__"] = meta;

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
