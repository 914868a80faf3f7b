// Tensors: typed, shaped views of backend memory.
//
// A Tensor never owns host data. It holds a shared reference to a backend Buffer (device
// memory: host RAM for the CPU backend, a VkBuffer range for Vulkan), a byte offset into
// it, an element type and a row-major shape. The last dimension is contiguous; rows
// (all leading dimensions flattened) may be strided, so a column slice of a projection
// output, e.g. the x and z halves of Mamba's in_proj, needs no copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kllens/dtype.h"

namespace kllens {

// Backend memory. Owned by whoever holds the last shared_ptr; freed through the backend
// that made it. `host` is non-null when the bytes are directly addressable on the host
// (always on the CPU backend; on unified-memory GPUs when mapped).
class Buffer {
 public:
  virtual ~Buffer() = default;
  size_t bytes() const { return bytes_; }
  void* host() const { return host_; }

 protected:
  Buffer(size_t bytes, void* host) : bytes_(bytes), host_(host) {}
  size_t bytes_;
  void* host_;
};

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

struct Tensor {
  std::shared_ptr<Buffer> buf;
  size_t offset = 0;      // bytes from the start of buf
  DType dtype = DType::F32;
  Shape shape;            // row-major, outermost first
  int64_t row_stride = 0; // elements between the starts of consecutive rows (plain types)

  bool empty() const { return buf == nullptr; }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const;   // product of all but the last dimension
  int64_t numel() const { return shape_numel(shape); }
  bool contiguous() const { return row_stride == cols(); }
  size_t row_bytes() const { return dtype_row_bytes(dtype, cols()); }
  // Bytes spanned from the first to the end of the last row.
  size_t span_bytes() const;

  // Host pointer to the first element (CPU backend; throws if not host-visible).
  template <typename T> T* data() const { return reinterpret_cast<T*>(host_ptr()); }
  void* host_ptr() const;

  // Views. They share the buffer.
  Tensor slice_cols(int64_t begin, int64_t n) const;  // last dim [begin, begin+n)
  Tensor slice_rows(int64_t begin, int64_t n) const;  // flattened rows [begin, begin+n)
  Tensor reshape(Shape s) const;                      // contiguous tensors only
  // Elements [begin, begin+n) of a contiguous tensor of a plain type, as a vector [n].
  Tensor slice_elems(int64_t begin, int64_t n) const;
  // The same rows (strides kept) under another shape with the same last dimension and
  // the same number of rows, e.g. [B*T, C] as [B, T, C].
  Tensor reshape_rows(Shape s) const;
};

// A linear layer's weight [out, in] in its storage format, with per-row scales for the
// per-channel quantised types (Q8_C, Q4_C), and an optional bias [out].
struct Weight {
  Tensor w;       // [N, K] in any DType
  Tensor scale;   // F32 [N] for Q8_C / Q4_C, empty otherwise
  Tensor bias;    // F32 [N] or empty
  int64_t out_features() const { return w.shape.at(0); }
  int64_t in_features() const { return w.shape.at(1); }
  // Output rows [begin, begin + n): views of w and of its per-row scale and bias.
  Weight slice_rows(int64_t begin, int64_t n) const;
};

}  // namespace kllens
