// Tensor views: shapes, slices and host access.
#include "kllens/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/tensor_view.h"
#include "kllens/error.h"

namespace kllens {

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

int64_t Tensor::rows() const {
  int64_t r = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) r *= shape[i];
  return r;
}

size_t Tensor::span_bytes() const {
  if (rows() == 0) return 0;
  if (dtype_is_quantized(dtype)) return size_t(rows()) * row_bytes();
  return (size_t(rows() - 1) * size_t(row_stride) + size_t(cols())) * dtype_size(dtype);
}

void* Tensor::host_ptr() const {
  KL_CHECK(buf && buf->host(), "tensor is not host-visible");
  return static_cast<char*>(buf->host()) + offset;
}

Tensor Tensor::slice_cols(int64_t begin, int64_t n) const {
  KL_CHECK(!dtype_is_quantized(dtype), "column slice of a quantised tensor");
  KL_CHECK(begin >= 0 && n >= 0 && begin + n <= cols(), "slice [{}, {}) of {} columns", begin,
           begin + n, cols());
  Tensor t = *this;
  t.offset += size_t(begin) * dtype_size(dtype);
  t.shape.back() = n;
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t n) const {
  KL_CHECK(begin >= 0 && n >= 0 && begin + n <= rows(), "row slice [{}, {}) of {} rows", begin,
           begin + n, rows());
  Tensor t = *this;
  const size_t stride_bytes =
      dtype_is_quantized(dtype) ? row_bytes() : size_t(row_stride) * dtype_size(dtype);
  t.offset += size_t(begin) * stride_bytes;
  t.shape = {n, cols()};
  return t;
}

Weight Weight::slice_rows(int64_t begin, int64_t n) const {
  auto part = [&](const Tensor& t) {  // F32 [N] -> contiguous [n] from begin
    if (t.empty()) return t;
    Tensor v = t.slice_cols(begin, n);
    v.row_stride = n;
    return v;
  };
  return Weight{w.slice_rows(begin, n), part(scale), part(bias)};
}

Tensor Tensor::reshape(Shape s) const {
  KL_CHECK(contiguous(), "reshape of a strided tensor");
  KL_CHECK(shape_numel(s) == numel(), "reshape {} to {}", shape_str(shape), shape_str(s));
  Tensor t = *this;
  t.shape = std::move(s);
  t.row_stride = t.cols();
  return t;
}

Tensor Tensor::slice_elems(int64_t begin, int64_t n) const {
  KL_CHECK(contiguous() && !dtype_is_quantized(dtype), "element slice of a strided or quantised tensor");
  KL_CHECK(begin >= 0 && n >= 0 && begin + n <= numel(), "element slice [{}, {}) of {} elements", begin,
           begin + n, numel());
  Tensor t = *this;
  t.offset += size_t(begin) * dtype_size(dtype);
  t.shape = {n};
  t.row_stride = n;
  return t;
}

Tensor Tensor::reshape_rows(Shape s) const {
  Tensor t = *this;
  t.shape = s.empty() ? Shape{1} : std::move(s);
  KL_CHECK(t.cols() == cols() && t.rows() == rows(), "reshape_rows {} to {}", shape_str(shape),
           shape_str(t.shape));
  return t;
}

Tensor view_as(const Tensor& src, size_t byte_offset, DType t, Shape s) {
  KL_CHECK(src.contiguous() || dtype_is_quantized(src.dtype), "view_as of a strided tensor");
  const size_t span = src.span_bytes();
  Tensor v;
  v.buf = src.buf;
  v.offset = src.offset + byte_offset;
  v.dtype = t;
  v.shape = s.empty() ? Shape{1} : std::move(s);
  v.row_stride = v.cols();
  for (int64_t d : v.shape) KL_CHECK(d >= 0, "view_as: negative dimension in {}", shape_str(v.shape));
  KL_CHECK(byte_offset <= span && v.span_bytes() <= span - byte_offset,
           "view_as: {} {} at byte {} runs past the {} bytes of the tensor", dtype_name(t),
           shape_str(v.shape), byte_offset, span);
  return v;
}

}  // namespace kllens
