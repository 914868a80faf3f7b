// silu_mul (SwiGLU): out = silu(gate) ⊙ up, F32 [n, F] views with their own row strides.
// One thread per element (shaders/silu_mul.comp); rows beyond maxComputeWorkGroupCount[1]
// run in several dispatches.
#include "core/op_args.h"
#include "shaders/silu_mul.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::SiluMulPush;

namespace {
// The bindings of shaders/silu_mul.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{SILU_MUL_BINDING_GATE, Access::read},
                                    {SILU_MUL_BINDING_UP, Access::read},
                                    {SILU_MUL_BINDING_OUT, Access::write}};
}  // namespace

void silu_mul(VulkanBackend& vb, const Tensor& gate, const Tensor& up, const Tensor& out) {
  validate(SiluMulArgs{gate, up, out});
  const int64_t rows = gate.rows(), cols = gate.cols();
  if (rows == 0 || cols == 0) return;
  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = vb.pipelines().get("silu_mul", kBindings, sizeof(SiluMulPush), {wg});
  const int64_t max_rows = vb.info().max_group_count[1];
  for (int64_t r0 = 0; r0 < rows; r0 += max_rows) {
    const int64_t n = std::min(max_rows, rows - r0);
    const BoundTensor bg = vb.stream().bind(gate.slice_rows(r0, n), 4),
                      bu = vb.stream().bind(up.slice_rows(r0, n), 4),
                      bo = vb.stream().bind(out.slice_rows(r0, n), 4);
    const SiluMulPush p{u32(n, "rows"), u32(cols, "cols"), bg.elem, u32(gate.row_stride, "gate stride"),
                        bu.elem, u32(up.row_stride, "up stride"), bo.elem, u32(out.row_stride, "out stride")};
    const Binding bind[] = {bg.binding, bu.binding, bo.binding};
    vb.stream().dispatch(k, bind, &p, groups(cols, wg), uint32_t(n), 1, "silu_mul");
  }
}

}  // namespace kllens::vk
