// copy and fill_zero (see copy.h). Strided tensors are handled row by row so bytes
// between rows (other column slices of the same buffer) are never touched.
#include "cpu/copy.h"

#include <cstring>

namespace kllens::cpu {

namespace {
size_t row_step_bytes(const Tensor& t) {
  return dtype_is_quantized(t.dtype) ? t.row_bytes() : size_t(t.row_stride) * dtype_size(t.dtype);
}
}  // namespace

void copy(const Tensor& src, const Tensor& dst) {
  const auto* s = src.data<uint8_t>();
  auto* d = dst.data<uint8_t>();
  const size_t ss = row_step_bytes(src), ds = row_step_bytes(dst), rb = src.row_bytes();
  if (ss == rb && ds == rb) {
    std::memmove(d, s, src.span_bytes());
    return;
  }
  for (int64_t r = 0; r < src.rows(); ++r) std::memmove(d + r * ds, s + r * ss, rb);
}

void fill_zero(const Tensor& t) {
  auto* d = t.data<uint8_t>();
  const size_t step = row_step_bytes(t), rb = t.row_bytes();
  if (step == rb) {
    std::memset(d, 0, t.span_bytes());
    return;
  }
  for (int64_t r = 0; r < t.rows(); ++r) std::memset(d + r * step, 0, rb);
}

}  // namespace kllens::cpu
