// add: out = a + b, F32 [rows, cols] views with their own row strides.
#include "core/op_args.h"
#include "shaders/add.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::AddPush;

namespace {
// The bindings of shaders/add.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{ADD_BINDING_A, Access::read},
                                    {ADD_BINDING_B, Access::read},
                                    {ADD_BINDING_OUT, Access::write}};
}  // namespace

void add(VulkanBackend& vb, const Tensor& a, const Tensor& b, const Tensor& out) {
  validate(AddArgs{a, b, out});
  const int64_t rows = a.rows(), cols = a.cols();
  if (rows == 0 || cols == 0) return;
  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = vb.pipelines().get("add", kBindings, sizeof(AddPush), {wg});
  const int64_t max_rows = vb.info().max_group_count[1];
  for (int64_t r0 = 0; r0 < rows; r0 += max_rows) {
    const int64_t n = std::min(max_rows, rows - r0);
    const Tensor av = a.slice_rows(r0, n), bv = b.slice_rows(r0, n), ov = out.slice_rows(r0, n);
    const BoundTensor ba = vb.stream().bind(av, 4), bb = vb.stream().bind(bv, 4),
                      bo = vb.stream().bind(ov, 4);
    const AddPush p{u32(n, "rows"), u32(cols, "cols"), ba.elem, u32(a.row_stride, "a stride"),
                    bb.elem, u32(b.row_stride, "b stride"), bo.elem, u32(out.row_stride, "out stride")};
    const Binding bind[] = {ba.binding, bb.binding, bo.binding};
    vb.stream().dispatch(k, bind, &p, groups(cols, wg), uint32_t(n), 1, "add");
  }
}

}  // namespace kllens::vk
