// argmax: out[r] = first index of the maximum of logits[r, :]; logits F32 [n, V] (strided
// rows), out I32 [n]. One workgroup per row (shaders/argmax.comp); rows beyond
// maxComputeWorkGroupCount[0] run in several dispatches.
#include "core/op_args.h"
#include "shaders/argmax.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::ArgmaxPush;

namespace {
// The bindings of shaders/argmax.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{ARGMAX_BINDING_LOGITS, Access::read},
                                    {ARGMAX_BINDING_OUT, Access::write}};
}  // namespace

void argmax(VulkanBackend& vb, const Tensor& logits, const Tensor& out) {
  validate(ArgmaxArgs{logits, out});
  const int64_t n = logits.rows(), V = logits.cols();
  if (n == 0) return;
  const uint32_t wg = vb.reduction_wg();
  const Kernel& k = vb.pipelines().get("argmax", kBindings, sizeof(ArgmaxPush), {wg}, vb.reduction_subgroup());
  const int64_t max_rows = vb.info().max_group_count[0];
  const Tensor flat = out.reshape({n});
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t nr = std::min(max_rows, n - r0);
    const Tensor o = flat.slice_elems(r0, nr);
    const BoundTensor bx = vb.stream().bind(logits.slice_rows(r0, nr), 4),
                      bo = vb.stream().bind(o, 4);
    const ArgmaxPush p{u32(V, "V"), bx.elem, u32(logits.row_stride, "logits stride"), bo.elem};
    const Binding bind[] = {bx.binding, bo.binding};
    vb.stream().dispatch(k, bind, &p, uint32_t(nr), 1, 1, "argmax");
  }
}

}  // namespace kllens::vk
