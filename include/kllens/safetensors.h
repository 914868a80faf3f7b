// safetensors model files: a validating mmap reader, sharded model folders, and a
// streaming atomic writer.
//
// Format: an 8-byte little-endian u64 header length N, N bytes of JSON
//   {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the raw little-endian row-major data; offsets count from the first byte after
// the header. The whole header is validated when a file is opened, so code that reads
// a TensorInfo can trust its dtype, shape, pointer and size.
//
// Packed quantised tensors (kllens quantised checkpoints, `kllens quantize`): a Q8_C /
// Q4_C / Q8_0 / Q4_0 matrix [N, K] is stored as U8 [N, row bytes] (its rows exactly as
// dtype.h lays them out), and the metadata key "kllens.packed" holds a JSON object
// {"NAME": {"dtype": "Q8_0", "shape": [N, K]}} naming each such tensor. Any safetensors
// reader sees plain U8 tensors; kllens's reader gives them back their quantised type and
// shape. Per-row scales of Q8_C / Q4_C are separate F32 tensors (NAME_scale, see
// models/weights.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kllens/dtype.h"
#include "kllens/file_bytes.h"
#include "kllens/tensor.h"

namespace kllens {

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  const uint8_t* data;  // into the read-only mapping; aligned only as the writer aligned it
  size_t bytes;         // = rows(shape) * dtype_row_bytes(dtype, cols(shape))
  std::string file;     // path of the .safetensors file holding it
};

inline constexpr const char* kPackedMetadataKey = "kllens.packed";

// One mmap'd .safetensors file; validates the whole header at open.
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  // The same validation over bytes already in memory (open() maps the file and calls it;
  // the fuzz target calls it directly). Borrowed: `data` must outlive the file and every
  // TensorInfo taken from it. `path` names the bytes in errors.
  static std::shared_ptr<SafetensorsFile> from_bytes(const std::string& path, const uint8_t* data,
                                                     size_t size);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  void parse();

  std::string path_;
  FileBytes bytes_;  // the whole file: mapped (open), or borrowed (from_bytes)
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a Hugging Face model folder: DIR/model.safetensors, or the shards listed
// in DIR/model.safetensors.index.json ({"weight_map": {tensor: file}}). Copies share the
// mapped files.
class TensorStore {
 public:
  static TensorStore open_dir(const std::string& dir);
  // A store over tensors whose bytes `owner` keeps alive (a GGUF file's mapping); `source`
  // names the store in errors.
  static TensorStore from_tensors(const std::string& source, std::vector<TensorInfo> tensors,
                                  std::shared_ptr<const void> owner);

  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  const TensorInfo& get(const std::string& name) const;   // throws "DIR: tensor 'NAME' missing"
  // get() plus a shape check: throws
  // "FILE: tensor 'NAME' has shape [a, b], config.json implies [c, d]".
  const TensorInfo& get(const std::string& name, const Shape& expected) const;
  std::vector<std::string> names() const;  // sorted
  // Keeps the mapping that holds this tensor alive (for zero-copy host buffers).
  std::shared_ptr<const void> owner(const std::string& name) const;
  const std::string& dir() const { return dir_; }

 private:
  struct Entry {
    const TensorInfo* info;              // borrowed from *owner
    std::shared_ptr<const void> owner;   // shared ownership of the info and the mapping
  };
  std::string dir_;
  std::map<std::string, Entry> entries_;
};

// Streaming writer: every tensor is declared first (the header needs all offsets), then
// fill(index, dst, bytes) produces each tensor's bytes in turn, so only one tensor is in
// memory at a time. As in the reference (Rust) writer, the data of larger element types
// comes first and tensors follow each other without gaps, so every tensor is aligned to
// its element size in a mapping; fill() is called in that data order. Atomic (AtomicFile).
// Quantised specs are written packed (see above), their fill() producing the packed rows.
struct TensorSpec {
  std::string name;
  DType dtype;
  Shape shape;
};
void write_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                       const std::function<void(size_t index, void* dst, size_t bytes)>& fill,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace kllens
