// GGUF v3 writer: header, metadata, tensor table, aligned data, through AtomicFile so a
// failure midway leaves no file behind.
#include <cstring>
#include <vector>

#include "kllens/error.h"
#include "kllens/gguf.h"
#include "kllens/io.h"

namespace kllens {

namespace {

// Little-endian bytes of the header, built in memory (it is small next to the data).
class HeaderBytes {
 public:
  template <typename T>
  void put(T v) {
    const size_t n = bytes_.size();
    bytes_.resize(n + sizeof(T));
    std::memcpy(bytes_.data() + n, &v, sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void value(const std::string& key, const GgufValue& v) {
    put<uint32_t>(uint32_t(v.type));
    switch (v.type) {
      case GgufValueType::U8: put<uint8_t>(uint8_t(v.i)); break;
      case GgufValueType::I8: put<int8_t>(int8_t(v.i)); break;
      case GgufValueType::U16: put<uint16_t>(uint16_t(v.i)); break;
      case GgufValueType::I16: put<int16_t>(int16_t(v.i)); break;
      case GgufValueType::U32: put<uint32_t>(uint32_t(v.i)); break;
      case GgufValueType::I32: put<int32_t>(int32_t(v.i)); break;
      case GgufValueType::U64: put<uint64_t>(uint64_t(v.i)); break;
      case GgufValueType::I64: put<int64_t>(v.i); break;
      case GgufValueType::F32: put<float>(float(v.f)); break;
      case GgufValueType::F64: put<double>(v.f); break;
      case GgufValueType::BOOL: put<uint8_t>(v.i ? 1 : 0); break;
      case GgufValueType::STRING: str(v.s); break;
      case GgufValueType::ARRAY: array(key, v); break;
    }
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  void array(const std::string& key, const GgufValue& v) {
    put<uint32_t>(uint32_t(v.elem));
    std::visit(
        [&](const auto& a) {
          using E = typename std::decay_t<decltype(a)>::value_type;
          put<uint64_t>(a.size());
          for (const auto& x : a) {
            if constexpr (std::is_same_v<E, std::string>) str(x);
            else if constexpr (std::is_same_v<E, bool>) put<uint8_t>(x ? 1 : 0);
            else put<E>(x);
          }
        },
        v.array);
    // The element type written must be the one the variant holds.
    static const GgufValueType held[] = {
        GgufValueType::U8,  GgufValueType::I8,  GgufValueType::U16,    GgufValueType::I16,
        GgufValueType::U32, GgufValueType::I32, GgufValueType::F32,    GgufValueType::BOOL,
        GgufValueType::STRING, GgufValueType::U64, GgufValueType::I64, GgufValueType::F64};
    KL_CHECK(held[v.array.index()] == v.elem, "metadata '{}': array element type mismatch", key);
  }
  std::vector<uint8_t> bytes_;
};

uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

uint64_t write_gguf(const std::string& path,
                    const std::vector<std::pair<std::string, GgufValue>>& metadata,
                    const std::vector<GgufTensorSpec>& tensors,
                    const std::function<void(size_t index, uint8_t* dst, size_t bytes)>& fill) {
  const uint64_t align = kGgufDefaultAlignment;
  HeaderBytes h;
  h.put<uint32_t>(kGgufMagic);
  h.put<uint32_t>(kGgufVersion);
  h.put<uint64_t>(tensors.size());
  h.put<uint64_t>(metadata.size());
  for (const auto& [key, v] : metadata) {
    KL_CHECK(key != "general.alignment", "the writer uses the default alignment");
    h.str(key);
    h.value(key, v);
  }
  std::vector<size_t> sizes;
  uint64_t offset = 0;
  for (const GgufTensorSpec& t : tensors) {
    KL_CHECK(!t.shape.empty() && t.shape.size() <= 4, "tensor '{}' has {} dims", t.name, t.shape.size());
    const int64_t ne0 = t.shape.back();
    KL_CHECK(!dtype_is_quantized(t.dtype) || ne0 % 32 == 0,
             "tensor '{}': {} rows of {} are not whole 32-blocks", t.name, dtype_name(t.dtype), ne0);
    h.str(t.name);
    h.put<uint32_t>(uint32_t(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) h.put<uint64_t>(uint64_t(*it));
    h.put<uint32_t>(uint32_t(ggml_type_of(t.dtype)));
    h.put<uint64_t>(offset);
    const size_t bytes = size_t(shape_numel(t.shape) / ne0) * dtype_row_bytes(t.dtype, ne0);
    sizes.push_back(bytes);
    offset = round_up(offset + bytes, align);
  }

  AtomicFile out(path);
  static const uint8_t zeros[64] = {};
  const auto& hb = h.bytes();
  out.write(hb.data(), hb.size());
  uint64_t pos = hb.size();
  out.write(zeros, size_t(round_up(pos, align) - pos));
  pos = round_up(pos, align);
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < tensors.size(); ++i) {
    buf.assign(sizes[i], 0);
    fill(i, buf.data(), buf.size());
    out.write(buf.data(), buf.size());
    pos += buf.size();
    const uint64_t pad = round_up(pos, align) - pos;
    out.write(zeros, size_t(pad));
    pos += pad;
  }
  out.commit();
  return pos;
}

}  // namespace kllens
