// GGUF v3 files (ggml's model format, what llama.cpp loads): a validating mmap reader and a
// streaming atomic writer. The mapping between GGUF and kllens models is gguf_model.h.
//
// Layout (all little-endian):
//   u32 magic "GGUF", u32 version 3, u64 tensor_count, u64 kv_count,
//   kv_count × { string key, u32 value_type, value },
//   tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset },
//   zero padding to general.alignment (default 32), then the data section; every tensor's
//   offset (from the start of the data section) is a multiple of the alignment.
// A string is u64 length + bytes (no terminator); an array is u32 element type, u64 count,
// elements. ne[0] is the innermost (fastest) dimension, so ggml's {ne0, ne1} is kllens's
// row-major shape [ne1, ne0].
//
// Tensor types kllens reads and writes: F32, F16, BF16, Q8_0 and Q4_0, whose byte layouts
// are kllens's DType layouts (dtype.h); ggml requires ne0 to be a multiple of 32 for the
// block types.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "kllens/dtype.h"
#include "kllens/file_bytes.h"
#include "kllens/tensor.h"

namespace kllens {

// ---- format constants (gguf.h / ggml.h of llama.cpp) -------------------------------
inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;
inline constexpr uint64_t kGgufDefaultAlignment = 32;

enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8,
  ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// ggml_type numbers of the tensor types kllens handles.
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };
// The ggml type of a kllens storage type; throws for Q8_C / Q4_C and integer types.
GgmlType ggml_type_of(DType t);
// llama_ftype values for general.file_type.
inline constexpr uint32_t kFtypeAllF32 = 0, kFtypeMostlyF16 = 1, kFtypeMostlyQ4_0 = 2,
                          kFtypeMostlyQ8_0 = 7;

// ---- metadata values ----------------------------------------------------------------
// A scalar, a string, or an array of one of them (arrays of arrays are refused).
struct GgufValue {
  using Array = std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>,
                             std::vector<int16_t>, std::vector<uint32_t>, std::vector<int32_t>,
                             std::vector<float>, std::vector<bool>, std::vector<std::string>,
                             std::vector<uint64_t>, std::vector<int64_t>, std::vector<double>>;
  GgufValueType type = GgufValueType::U32;
  // Scalars: integers and bools in i (u64 values reinterpreted), floats in f.
  int64_t i = 0;
  double f = 0;
  std::string s;
  GgufValueType elem = GgufValueType::U8;  // arrays
  Array array;

  static GgufValue u32(uint32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue strings(std::vector<std::string> v);
  static GgufValue floats(std::vector<float> v);
  static GgufValue i32s(std::vector<int32_t> v);
};

// ---- reader -------------------------------------------------------------------------
struct GgufTensor {
  std::string name;
  DType dtype;
  Shape shape;          // kllens order: [ne1, ne0] for 2-D
  const uint8_t* data;  // into the mapping
  size_t bytes;
};

// One mmap'd GGUF file, validated in full at open (header, every key and tensor, offsets,
// sizes, overlaps) before anything is allocated from the values it holds. Errors are one
// line: "PATH: what is wrong".
class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);
  // The same validation over bytes already in memory (open() maps the file and calls it;
  // the fuzz target calls it directly). Borrowed: `data` must outlive the file and every
  // GgufTensor taken from it. `path` names the bytes in errors.
  static std::shared_ptr<GgufFile> from_bytes(const std::string& path, const uint8_t* data,
                                              size_t size);
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const;

  // Typed metadata access; throws "PATH: key 'K' is missing" / "... is a T, expected U".
  const GgufValue* find_kv(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;  // any unsigned or non-negative integer
  double get_float(const std::string& key) const;   // F32 or F64
  bool get_bool(const std::string& key, bool fallback) const;

 private:
  GgufFile() = default;
  void parse();

  std::string path_;
  FileBytes bytes_;  // the whole file: mapped (open), or borrowed (from_bytes)
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> by_name_;
};

// True if PATH is a regular file that starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

// ---- writer -------------------------------------------------------------------------
struct GgufTensorSpec {
  std::string name;
  DType dtype;  // F32, F16, BF16, Q8_0, Q4_0
  Shape shape;  // kllens order; the innermost dimension of block types a multiple of 32
};

// Writes a GGUF v3 file atomically (AtomicFile): metadata in the given order, then the
// tensor table, then fill(index, dst, bytes) produces each tensor's bytes in turn (one
// tensor in memory at a time). Returns the file's size in bytes.
uint64_t write_gguf(const std::string& path,
                    const std::vector<std::pair<std::string, GgufValue>>& metadata,
                    const std::vector<GgufTensorSpec>& tensors,
                    const std::function<void(size_t index, uint8_t* dst, size_t bytes)>& fill);

}  // namespace kllens
