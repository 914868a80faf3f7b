// copy: dst = src for 4-byte element types (F32, I32), strided rows on both sides.
#include "core/op_args.h"
#include "shaders/copy.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::CopyPush;

namespace {
// The bindings of shaders/copy.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{COPY_BINDING_SRC, Access::read},
                                    {COPY_BINDING_DST, Access::write}};
}  // namespace

void copy(VulkanBackend& vb, const Tensor& src, const Tensor& dst) {
  validate(CopyArgs{src, dst});
  // Device limit: the shader moves 32-bit words.
  KL_CHECK(!dtype_is_quantized(src.dtype) && dtype_size(src.dtype) == 4,
           "copy: {} tensors are not supported on Vulkan (4-byte types only)", dtype_name(src.dtype));
  const int64_t rows = src.rows(), cols = src.cols();
  if (rows == 0 || cols == 0) return;
  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = vb.pipelines().get("copy", kBindings, sizeof(CopyPush), {wg});
  const int64_t max_rows = vb.info().max_group_count[1];
  for (int64_t r0 = 0; r0 < rows; r0 += max_rows) {
    const int64_t n = std::min(max_rows, rows - r0);
    const BoundTensor bs = vb.stream().bind(src.slice_rows(r0, n), 4);
    const BoundTensor bd = vb.stream().bind(dst.slice_rows(r0, n), 4);
    const CopyPush p{u32(n, "rows"), u32(cols, "cols"), bs.elem, u32(src.row_stride, "src stride"),
                     bd.elem, u32(dst.row_stride, "dst stride")};
    const Binding bind[] = {bs.binding, bd.binding};
    vb.stream().dispatch(k, bind, &p, groups(cols, wg), uint32_t(n), 1, "copy");
  }
}

}  // namespace kllens::vk
