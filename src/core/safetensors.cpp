// safetensors reader (mmap, full header validation) and TensorStore over model folders.
//
// Every refusal is one line naming the file and, where there is one, the tensor: a
// malformed checkpoint must fail at open, never as a crash or as garbage in a kernel.
#include "kllens/safetensors.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

#include "json.h"
#include "kllens/error.h"
#include "kllens/io.h"

namespace kllens {

namespace {

// No real header comes near this; a larger value means a corrupt or foreign file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::string type_of(const nlohmann::json& j) { return j.type_name(); }

// A non-negative JSON integer, or nullopt.
std::optional<uint64_t> json_uint(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return uint64_t(j.get<int64_t>());
  return std::nullopt;
}

// Refusal of one header entry: "FILE: tensor 'NAME': why".
struct BadTensor {
  const std::string& path;
  const std::string& name;
  [[noreturn]] void operator()(const std::string& why) const {
    fail("{}: tensor '{}': {}", path, name, why);
  }
};

// A tensor that the "kllens.packed" metadata names (see safetensors.h).
struct Packed {
  DType dtype;
  Shape shape;  // [N, K]
};

// Kernels read Q8_C / Q4_C rows (padded to 4 bytes) in 4-byte words and the FP16 scale
// at the start of each Q8_0 / Q4_0 block as a 2-byte value.
size_t packed_alignment(DType t) { return t == DType::Q8_C || t == DType::Q4_C ? 4 : 2; }

std::map<std::string, Packed> packed_tensors(const std::string& path,
                                             const std::map<std::string, std::string>& metadata) {
  std::map<std::string, Packed> out;
  auto it = metadata.find(kPackedMetadataKey);
  if (it == metadata.end()) return out;
  const nlohmann::json j = parse_json(it->second, fmt::format("{}: metadata '{}'", path, kPackedMetadataKey));
  if (!j.is_object()) fail("{}: metadata '{}' is a JSON {}, not an object", path, kPackedMetadataKey, type_of(j));
  for (const auto& [name, e] : j.items()) {
    const BadTensor bad{path, name};
    if (!e.is_object() || !e.contains("dtype") || !e["dtype"].is_string() || !e.contains("shape") ||
        !e["shape"].is_array() || e["shape"].size() != 2)
      bad(fmt::format("'{}' entry {} is not {{\"dtype\": TYPE, \"shape\": [N, K]}}", kPackedMetadataKey, json_excerpt(e)));
    Packed p{DType::F32, {}};
    for (DType q : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0})
      if (e["dtype"].get<std::string>() == dtype_name(q)) p.dtype = q;
    if (!dtype_is_quantized(p.dtype))
      bad(fmt::format("packed dtype {} is not Q8_C, Q4_C, Q8_0 or Q4_0", e["dtype"].dump()));
    for (const auto& d : e["shape"]) {
      const auto v = json_uint(d);
      if (!v || *v > uint64_t(INT32_MAX)) bad(fmt::format("packed shape {} is not [N, K] below 2^31", e["shape"].dump()));
      p.shape.push_back(int64_t(*v));
    }
    out.emplace(name, std::move(p));
  }
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

// ---- SafetensorsFile --------------------------------------------------------------------

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->bytes_ = FileBytes::map(path);
  f->parse();
  return f;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_bytes(const std::string& path, const uint8_t* data,
                                                             size_t size) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->bytes_ = FileBytes::borrow(data, size);
  f->parse();
  return f;
}

void SafetensorsFile::parse() {
  if (bytes_.size() < 8)
    fail("{}: not a safetensors file: {} bytes, shorter than the 8-byte header length", path_, bytes_.size());
  uint64_t header_len;
  std::memcpy(&header_len, bytes_.data(), 8);  // little-endian on disk and on the x86-64 host
  if (header_len > kMaxHeaderBytes)
    fail("{}: header length {} is absurd (> {} bytes); not a safetensors file?", path_, header_len,
         kMaxHeaderBytes);
  if (header_len > bytes_.size() - 8)
    fail("{}: header length {} runs past the end of the {}-byte file", path_, header_len, bytes_.size());
  const char* base = reinterpret_cast<const char*>(bytes_.data());
  // Bounded (depth, duplicate names: the format forbids a name twice, and a parser that
  // keeps the last would hide the first).
  const nlohmann::json header = parse_json(std::string_view(base + 8, header_len), path_);
  if (!header.is_object()) fail("{}: header is a JSON {}, not an object", path_, type_of(header));

  const uint8_t* data = reinterpret_cast<const uint8_t*>(base) + 8 + header_len;
  const uint64_t data_bytes = bytes_.size() - 8 - header_len;

  if (auto m = header.find("__metadata__"); m != header.end()) {
    if (!m->is_object()) fail("{}: __metadata__ is a JSON {}, not an object", path_, type_of(*m));
    for (const auto& [key, value] : m->items()) {
      if (!value.is_string())
        fail("{}: __metadata__ key '{}' is a JSON {}, not a string", path_, excerpt(key), type_of(value));
      metadata_[key] = value.get<std::string>();
    }
  }
  const std::map<std::string, Packed> packed = packed_tensors(path_, metadata_);

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string shown = excerpt(name);
    const BadTensor bad{path_, shown};
    if (!entry.is_object()) bad(fmt::format("entry is a JSON {}, not an object", type_of(entry)));
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(key)) bad(fmt::format("no \"{}\"", key));

    const auto& jdtype = entry["dtype"];
    if (!jdtype.is_string()) bad(fmt::format("dtype is a JSON {}, not a string", type_of(jdtype)));
    // A packed quantised tensor is U8 [N, row bytes] in the file and Q* [N, K] to kllens.
    const auto pk = packed.find(name);
    const bool is_packed = pk != packed.end();
    if (is_packed && jdtype.get<std::string>() != "U8")
      bad(fmt::format("listed in '{}' as packed {}, but stored as {}, not U8", kPackedMetadataKey,
                      dtype_name(pk->second.dtype), jdtype.get<std::string>()));
    const DType dtype = [&] {
      if (is_packed) return pk->second.dtype;
      try {
        return dtype_from_safetensors(jdtype.get<std::string>());
      } catch (const Error& e) {
        bad(e.what());
      }
    }();

    const auto& jshape = entry["shape"];
    if (!jshape.is_array()) bad(fmt::format("shape is a JSON {}, not an array", type_of(jshape)));
    Shape shape;
    // The element count is built with overflow checks: a forged shape must not wrap
    // around to a size that happens to match the offsets.
    uint64_t bytes = is_packed ? 1 : dtype_size(dtype);
    for (const auto& d : jshape) {
      auto dim = json_uint(d);
      if (!dim)
        bad(fmt::format("shape {} has a dimension that is not an integer >= 0", json_excerpt(jshape)));
      if (*dim > uint64_t(INT64_MAX) || __builtin_mul_overflow(bytes, *dim, &bytes))
        bad(fmt::format("shape {} is too large", json_excerpt(jshape)));
      shape.push_back(int64_t(*dim));
    }
    if (is_packed) {
      const Packed& p = pk->second;
      const Shape stored{p.shape[0], int64_t(dtype_row_bytes(p.dtype, p.shape[1]))};
      if (shape != stored)
        bad(fmt::format("packed {} {} needs U8 {}, the file has U8 {}", dtype_name(p.dtype), shape_str(p.shape),
                        shape_str(stored), shape_str(shape)));
      shape = p.shape;
    }

    const auto& joff = entry["data_offsets"];
    std::optional<uint64_t> begin, end;
    if (joff.is_array() && joff.size() == 2) {
      begin = json_uint(joff[0]);
      end = json_uint(joff[1]);
    }
    if (!begin || !end || *begin > *end)
      bad(fmt::format("data_offsets {} is not [begin, end] with 0 <= begin <= end", json_excerpt(joff)));
    if (*end > data_bytes)
      bad(fmt::format("data_offsets [{}, {}] run past the {}-byte data section", *begin, *end,
                      data_bytes));
    if (*end - *begin != bytes)
      bad(fmt::format("data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", *begin, *end,
                      *end - *begin, dtype_name(dtype), shape_str(shape), bytes));
    if (is_packed && (uintptr_t(data + *begin) % packed_alignment(dtype)) != 0)
      bad(fmt::format("packed {} data is not {}-byte aligned", dtype_name(dtype), packed_alignment(dtype)));

    tensors_[name] = TensorInfo{name, dtype, std::move(shape), data + *begin, size_t(bytes), path_};
  }

  for (const auto& [name, p] : packed)
    if (!tensors_.contains(name))
      fail("{}: tensor '{}' is listed in '{}' but not in the file", path_, excerpt(name), kPackedMetadataKey);

  // Coverage, as the format requires: sorted by start, the non-empty tensors tile the data
  // section exactly, from its first byte to its last, no overlap, no gap. A header length
  // one byte short leaves a gap at the start (every tensor would be read one byte off);
  // bytes after the last tensor are unclaimed. Empty tensors occupy no bytes.
  std::vector<const TensorInfo*> order;
  for (const auto& [name, t] : tensors_)
    if (t.bytes > 0) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->data < b->data; });
  uint64_t covered = 0;  // data bytes [0, covered) are claimed
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : order) {
    const uint64_t begin = uint64_t(t->data - data);
    if (begin < covered)
      fail("{}: tensors '{}' and '{}' overlap in the data section", path_, excerpt(prev->name),
           excerpt(t->name));
    if (begin > covered)
      fail("{}: tensor '{}' starts at data byte {}, leaving bytes {}..{} unclaimed (header "
           "length wrong?)", path_, excerpt(t->name), begin, covered, begin - 1);
    covered = begin + t->bytes;
    prev = t;
  }
  if (covered != data_bytes)
    fail("{}: the tensors cover {} of the {} data bytes; the rest is unclaimed", path_, covered,
         data_bytes);
}

// ---- TensorStore ------------------------------------------------------------------------

TensorStore TensorStore::open_dir(const std::string& dir) {
  TensorStore store;
  store.dir_ = dir;
  const std::string single = dir + "/model.safetensors";
  const std::string index_path = dir + "/model.safetensors.index.json";

  // Like transformers: a single model.safetensors wins over an index.
  if (file_exists(single)) {
    auto f = SafetensorsFile::open(single);
    for (const auto& [name, info] : f->tensors()) store.entries_[name] = Entry{&info, f};
    return store;
  }
  if (!file_exists(index_path))
    fail("{}: no model.safetensors or model.safetensors.index.json", dir);

  const nlohmann::json index = read_json_file_lenient(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail("{}: no \"weight_map\" object", index_path);

  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;  // each opened once
  for (const auto& [name, jfile] : index["weight_map"].items()) {
    if (!jfile.is_string())
      fail("{}: weight_map entry for tensor '{}' is a JSON {}, not a file name", index_path, name,
           type_of(jfile));
    const std::string file = jfile.get<std::string>();
    // Shard names are relative to the folder; refuse anything that could escape it.
    if (file.empty() || file[0] == '/' || file == ".." || file.starts_with("../") ||
        file.find("/../") != std::string::npos || file.ends_with("/.."))
      fail("{}: tensor '{}' maps to '{}', which is not a file inside the folder", index_path, name,
           file);
    auto& shard = shards[file];
    if (!shard) {
      const std::string shard_path = dir + "/" + file;
      if (!file_exists(shard_path))
        fail("{}: shard '{}' (listed for tensor '{}') is missing", index_path, file, name);
      shard = SafetensorsFile::open(shard_path);
    }
    auto it = shard->tensors().find(name);
    if (it == shard->tensors().end())
      fail("{}: tensor '{}' is listed in '{}', but that shard does not hold it", index_path, name,
           file);
    store.entries_[name] = Entry{&it->second, shard};
  }
  return store;
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.info;
}

const TensorInfo& TensorStore::get(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) fail("{}: tensor '{}' missing", dir_, name);
  return *t;
}

const TensorInfo& TensorStore::get(const std::string& name, const Shape& expected) const {
  const TensorInfo& t = get(name);
  if (t.shape != expected)
    fail("{}: tensor '{}' has shape {}, config.json implies {}", t.file, name, shape_str(t.shape),
         shape_str(expected));
  return t;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

std::shared_ptr<const void> TensorStore::owner(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail("{}: tensor '{}' missing", dir_, name);
  return it->second.owner;
}

TensorStore TensorStore::from_tensors(const std::string& source, std::vector<TensorInfo> tensors,
                                      std::shared_ptr<const void> owner) {
  struct Held {
    std::shared_ptr<const void> owner;
    std::vector<TensorInfo> tensors;
  };
  auto held = std::make_shared<Held>(Held{std::move(owner), std::move(tensors)});
  TensorStore store;
  store.dir_ = source;
  for (const TensorInfo& t : held->tensors)
    if (!store.entries_.emplace(t.name, Entry{&t, held}).second)
      fail("{}: tensor '{}' appears twice", source, t.name);
  return store;
}

}  // namespace kllens
