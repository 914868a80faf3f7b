// fill (fill_zero): t = a 4-byte bit pattern. F32/I32 views may be strided; other types
// must be contiguous and 4-byte aligned, and are filled as words.
#include "core/tensor_view.h"
#include "shaders/fill.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::FillPush;

namespace {
// The bindings of shaders/fill.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{FILL_BINDING_TENSOR, Access::write}};
// Fills a [rows, cols] view of 4-byte words, rows chunked to the grid limit.
void fill_words(VulkanBackend& vb, const Tensor& t, uint32_t value) {
  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = vb.pipelines().get("fill", kBindings, sizeof(FillPush), {wg});
  const int64_t max_rows = vb.info().max_group_count[1];
  for (int64_t r0 = 0; r0 < t.rows(); r0 += max_rows) {
    const Tensor part = t.slice_rows(r0, std::min(max_rows, t.rows() - r0));
    const BoundTensor b = vb.stream().bind(part, 4);
    const FillPush p{u32(part.rows(), "rows"), u32(part.cols(), "cols"), b.elem,
                     u32(part.row_stride, "stride"), value};
    vb.stream().dispatch(k, {&b.binding, 1}, &p, groups(part.cols(), wg), uint32_t(part.rows()), 1, "fill");
  }
}
}  // namespace

void fill(VulkanBackend& vb, const Tensor& t, uint32_t value) {
  KL_CHECK(!t.empty(), "fill of an empty tensor");
  if (t.numel() == 0) return;
  if (!dtype_is_quantized(t.dtype) && dtype_size(t.dtype) == 4) {
    return fill_words(vb, t, value);
  }
  KL_CHECK(t.contiguous() || dtype_is_quantized(t.dtype), "fill of a strided {} tensor", dtype_name(t.dtype));
  const size_t bytes = t.span_bytes();
  KL_CHECK(t.offset % 4 == 0 && bytes % 4 == 0, "fill of {} bytes at offset {}: not whole words",
           bytes, t.offset);
  // As words: full rows of 4096 and a tail row, so the grid stays small.
  const int64_t words = int64_t(bytes / 4), W = 4096;
  if (words >= W) fill_words(vb, view_as(t, 0, DType::I32, {words / W, W}), value);
  if (words % W) fill_words(vb, view_as(t, size_t(words / W * W) * 4, DType::I32, {1, words % W}), value);
}

}  // namespace kllens::vk
