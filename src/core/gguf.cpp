// GGUF v3 reader: mmap, then a bounds-checked walk over the header that validates every
// key, value and tensor entry before anything is built from them.
//
// Every count and length read from the file is checked against the bytes that remain
// before it sizes anything, so a corrupt or hostile file fails with one line instead of
// a huge allocation or a read past the mapping.
#include "kllens/gguf.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "kllens/error.h"

namespace kllens {

GgmlType ggml_type_of(DType t) {
  switch (t) {
    case DType::F32: return GgmlType::F32;
    case DType::F16: return GgmlType::F16;
    case DType::BF16: return GgmlType::BF16;
    case DType::Q8_0: return GgmlType::Q8_0;
    case DType::Q4_0: return GgmlType::Q4_0;
    default: fail("dtype {} has no GGUF tensor type", dtype_name(t));
  }
}

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue g;
  g.type = GgufValueType::U32;
  g.i = v;
  return g;
}
GgufValue GgufValue::f32(float v) {
  GgufValue g;
  g.type = GgufValueType::F32;
  g.f = v;
  return g;
}
GgufValue GgufValue::boolean(bool v) {
  GgufValue g;
  g.type = GgufValueType::BOOL;
  g.i = v;
  return g;
}
GgufValue GgufValue::string(std::string v) {
  GgufValue g;
  g.type = GgufValueType::STRING;
  g.s = std::move(v);
  return g;
}
GgufValue GgufValue::strings(std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufValueType::ARRAY;
  g.elem = GgufValueType::STRING;
  g.array = std::move(v);
  return g;
}
GgufValue GgufValue::floats(std::vector<float> v) {
  GgufValue g;
  g.type = GgufValueType::ARRAY;
  g.elem = GgufValueType::F32;
  g.array = std::move(v);
  return g;
}
GgufValue GgufValue::i32s(std::vector<int32_t> v) {
  GgufValue g;
  g.type = GgufValueType::ARRAY;
  g.elem = GgufValueType::I32;
  g.array = std::move(v);
  return g;
}

namespace {

// No real model comes near these; larger values mean a corrupt file.
constexpr uint64_t kMaxDims = 4;
constexpr uint64_t kMaxStringBytes = 1ull << 30;

const char* value_type_name(GgufValueType t) {
  static const char* names[] = {"u8",  "i8",    "u16",   "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = uint32_t(t);
  return i < 13 ? names[i] : "unknown type";
}

// Fixed size of a scalar value type; 0 for string and array.
size_t scalar_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return 8;
    default: return 0;
  }
}

// A bounds-checked cursor over the mapping; every failure names the file and offset.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* p, size_t n) : path_(path), p_(p), n_(n) {}
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }
  [[noreturn]] void bad(const std::string& what) const {
    fail("{}: {} (at byte {})", path_, what, pos_);
  }
  void need(uint64_t bytes, const char* what) const {
    if (bytes > left())
      bad(fmt::format("truncated: {} needs {} bytes, {} left", what, bytes, left()));
  }
  // `count` items of at least `size` bytes each, checked without overflowing.
  void need_items(uint64_t count, size_t size, const char* what) const {
    if (count > left() / size)
      bad(fmt::format("truncated: {} claims {} entries, {} bytes left", what, count, left()));
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string string(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    if (len > kMaxStringBytes) bad(fmt::format("{} claims {} bytes", what, len));
    need(len, what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }

 private:
  const std::string& path_;
  const uint8_t* p_;
  size_t n_, pos_ = 0;
};

template <typename T>
std::vector<T> read_array(Cursor& c, uint64_t count) {
  c.need_items(count, sizeof(T), "array");
  std::vector<T> v(static_cast<size_t>(count));
  for (auto& x : v) x = c.read<T>("array element");
  return v;
}

void read_scalar(Cursor& c, GgufValueType t, GgufValue& v) {
  switch (t) {
    case GgufValueType::U8: v.i = c.read<uint8_t>("value"); break;
    case GgufValueType::I8: v.i = c.read<int8_t>("value"); break;
    case GgufValueType::U16: v.i = c.read<uint16_t>("value"); break;
    case GgufValueType::I16: v.i = c.read<int16_t>("value"); break;
    case GgufValueType::U32: v.i = c.read<uint32_t>("value"); break;
    case GgufValueType::I32: v.i = c.read<int32_t>("value"); break;
    case GgufValueType::U64: v.i = int64_t(c.read<uint64_t>("value")); break;
    case GgufValueType::I64: v.i = c.read<int64_t>("value"); break;
    case GgufValueType::F32: v.f = c.read<float>("value"); break;
    case GgufValueType::F64: v.f = c.read<double>("value"); break;
    case GgufValueType::BOOL: {
      const uint8_t b = c.read<uint8_t>("value");
      if (b > 1) c.bad(fmt::format("bool value {}", b));
      v.i = b;
      break;
    }
    case GgufValueType::STRING: v.s = c.string("string value"); break;
    default: c.bad(fmt::format("value type {}", uint32_t(t)));
  }
}

GgufValue read_value(Cursor& c, GgufValueType t) {
  GgufValue v;
  v.type = t;
  if (t != GgufValueType::ARRAY) {
    read_scalar(c, t, v);
    return v;
  }
  v.elem = GgufValueType(c.read<uint32_t>("array type"));
  const uint64_t n = c.read<uint64_t>("array length");
  // Each element takes at least one byte (strings: 8), so n is bounded by what is left.
  const size_t min_bytes = v.elem == GgufValueType::STRING ? 8 : scalar_bytes(v.elem);
  if (min_bytes == 0) c.bad(fmt::format("array of {}", value_type_name(v.elem)));
  c.need_items(n, min_bytes, "array");
  switch (v.elem) {
    case GgufValueType::U8: v.array = read_array<uint8_t>(c, n); break;
    case GgufValueType::I8: v.array = read_array<int8_t>(c, n); break;
    case GgufValueType::U16: v.array = read_array<uint16_t>(c, n); break;
    case GgufValueType::I16: v.array = read_array<int16_t>(c, n); break;
    case GgufValueType::U32: v.array = read_array<uint32_t>(c, n); break;
    case GgufValueType::I32: v.array = read_array<int32_t>(c, n); break;
    case GgufValueType::F32: v.array = read_array<float>(c, n); break;
    case GgufValueType::U64: v.array = read_array<uint64_t>(c, n); break;
    case GgufValueType::I64: v.array = read_array<int64_t>(c, n); break;
    case GgufValueType::F64: v.array = read_array<double>(c, n); break;
    case GgufValueType::BOOL: {
      std::vector<bool> b(static_cast<size_t>(n));
      for (size_t i = 0; i < b.size(); ++i) {
        const uint8_t x = c.read<uint8_t>("array element");
        if (x > 1) c.bad(fmt::format("bool value {}", x));
        b[i] = x;
      }
      v.array = std::move(b);
      break;
    }
    case GgufValueType::STRING: {
      std::vector<std::string> s;
      s.reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) s.push_back(c.string("array string"));
      v.array = std::move(s);
      break;
    }
    default: c.bad(fmt::format("array element type {}", uint32_t(v.elem)));
  }
  return v;
}

// kllens DType of a ggml type number, or nullopt for types kllens does not read.
std::optional<DType> dtype_of_ggml(uint32_t t) {
  switch (GgmlType(t)) {
    case GgmlType::F32: return DType::F32;
    case GgmlType::F16: return DType::F16;
    case GgmlType::BF16: return DType::BF16;
    case GgmlType::Q8_0: return DType::Q8_0;
    case GgmlType::Q4_0: return DType::Q4_0;
  }
  return std::nullopt;
}

}  // namespace

// ---- GgufFile ---------------------------------------------------------------------------

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->bytes_ = FileBytes::map(path);
  f->parse();
  return f;
}

std::shared_ptr<GgufFile> GgufFile::from_bytes(const std::string& path, const uint8_t* data,
                                               size_t size) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->bytes_ = FileBytes::borrow(data, size);
  f->parse();
  return f;
}

void GgufFile::parse() {
  if (bytes_.size() < 24)
    fail("{}: not a GGUF file: {} bytes, shorter than the 24-byte header", path_, bytes_.size());
  const uint8_t* base = bytes_.data();
  Cursor c(path_, base, bytes_.size());
  if (c.read<uint32_t>("magic") != kGgufMagic) fail("{}: not a GGUF file (bad magic)", path_);
  const uint32_t version = c.read<uint32_t>("version");
  if (version != kGgufVersion)
    fail("{}: GGUF version {}, kllens reads version {}", path_, version, kGgufVersion);
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key/value pair takes at least 13 bytes, a tensor entry at least 24.
  c.need_items(n_kv, 13, "metadata");
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.string("metadata key");
    if (key.empty()) c.bad("empty metadata key");
    const auto type = GgufValueType(c.read<uint32_t>("value type"));
    GgufValue v = read_value(c, type);
    if (!kv_.emplace(key, std::move(v)).second) c.bad(fmt::format("duplicate key '{}'", key));
  }
  uint64_t alignment = kGgufDefaultAlignment;
  if (const GgufValue* a = find_kv("general.alignment")) {
    if (a->type != GgufValueType::U32 || a->i == 0 || (a->i & (a->i - 1)) != 0)
      fail("{}: general.alignment must be a u32 power of two", path_);
    alignment = uint64_t(a->i);
  }

  c.need_items(n_tensors, 24, "tensor table");
  struct Raw {
    uint64_t offset, bytes;
  };
  std::vector<Raw> raw;
  raw.reserve(size_t(n_tensors));
  tensors_.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.string("tensor name");
    const auto bad = [&](const std::string& why) { fail("{}: tensor '{}': {}", path_, t.name, why); };
    if (t.name.empty()) c.bad("empty tensor name");
    const uint32_t n_dims = c.read<uint32_t>("tensor dims");
    if (n_dims == 0 || n_dims > kMaxDims) bad(fmt::format("{} dimensions", n_dims));
    std::vector<uint64_t> ne(n_dims);
    uint64_t numel = 1;
    for (auto& d : ne) {
      d = c.read<uint64_t>("tensor dim");
      if (d == 0 || d > (1ull << 40) || numel > (1ull << 40) / d)
        bad(fmt::format("dimension {} out of range", d));
      numel *= d;
    }
    const uint32_t type = c.read<uint32_t>("tensor type");
    const auto dtype = dtype_of_ggml(type);
    if (!dtype)
      bad(fmt::format("ggml type {}, kllens reads F32, F16, BF16, Q8_0 and Q4_0", type));
    t.dtype = *dtype;
    if (dtype_is_quantized(t.dtype) && ne[0] % 32 != 0)
      bad(fmt::format("{} rows of {} elements, not a multiple of the 32-block", dtype_name(t.dtype), ne[0]));
    const uint64_t offset = c.read<uint64_t>("tensor offset");
    if (offset % alignment != 0) bad(fmt::format("offset {} is not a multiple of {}", offset, alignment));
    for (auto it = ne.rbegin(); it != ne.rend(); ++it) t.shape.push_back(int64_t(*it));
    const uint64_t rows = numel / ne[0];
    const uint64_t bytes = rows * dtype_row_bytes(t.dtype, int64_t(ne[0]));
    raw.push_back({offset, bytes});
    if (!by_name_.emplace(t.name, tensors_.size()).second) bad("appears twice");
    tensors_.push_back(std::move(t));
  }
  const uint64_t data_start = (uint64_t(c.pos()) + alignment - 1) / alignment * alignment;
  if (data_start > bytes_.size() && n_tensors > 0) fail("{}: truncated before the data section", path_);
  const uint64_t data_bytes = bytes_.size() - std::min<uint64_t>(data_start, bytes_.size());
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) {
    if (raw[i].offset > data_bytes || raw[i].bytes > data_bytes - raw[i].offset)
      fail("{}: tensor '{}': data [{}, {}) runs past the end of the file ({} data bytes)", path_,
           tensors_[i].name, raw[i].offset, raw[i].offset + raw[i].bytes, data_bytes);
    tensors_[i].data = base + data_start + raw[i].offset;
    tensors_[i].bytes = size_t(raw[i].bytes);
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return raw[a].offset < raw[b].offset; });
  for (size_t i = 1; i < order.size(); ++i)
    if (raw[order[i - 1]].offset + raw[order[i - 1]].bytes > raw[order[i]].offset)
      fail("{}: tensors '{}' and '{}' overlap in the data section", path_,
           tensors_[order[i - 1]].name, tensors_[order[i]].name);
}

const GgufTensor* GgufFile::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

const GgufValue* GgufFile::find_kv(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

namespace {
const GgufValue& need_kv(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find_kv(key);
  if (!v) fail("{}: key '{}' is missing", f.path(), key);
  return *v;
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = need_kv(*this, key);
  if (v.type != GgufValueType::STRING)
    fail("{}: key '{}' is a {}, expected a string", path_, key, value_type_name(v.type));
  return v.s;
}

uint64_t GgufFile::get_uint(const std::string& key) const {
  const GgufValue& v = need_kv(*this, key);
  switch (v.type) {
    case GgufValueType::U8: case GgufValueType::U16: case GgufValueType::U32:
    case GgufValueType::U64: return uint64_t(v.i);
    case GgufValueType::I8: case GgufValueType::I16: case GgufValueType::I32:
    case GgufValueType::I64:
      if (v.i >= 0) return uint64_t(v.i);
      fail("{}: key '{}' is negative ({})", path_, key, v.i);
    default: fail("{}: key '{}' is a {}, expected an integer", path_, key, value_type_name(v.type));
  }
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = need_kv(*this, key);
  if (v.type != GgufValueType::F32 && v.type != GgufValueType::F64)
    fail("{}: key '{}' is a {}, expected a float", path_, key, value_type_name(v.type));
  return v.f;
}

bool GgufFile::get_bool(const std::string& key, bool fallback) const {
  const GgufValue* v = find_kv(key);
  if (!v) return fallback;
  if (v->type != GgufValueType::BOOL)
    fail("{}: key '{}' is a {}, expected a bool", path_, key, value_type_name(v->type));
  return v->i != 0;
}

bool is_gguf_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  uint32_t magic = 0;
  const bool ok = std::fread(&magic, 4, 1, f) == 1 && magic == kGgufMagic;
  std::fclose(f);
  return ok;
}

}  // namespace kllens
