// topk: the k largest entries of each row, best first (ties → lower index, NaN last);
// logits F32 [n, V] (strided rows), values F32 [n, k], indices I32 [n, k] (contiguous).
// One workgroup per row (shaders/topk.comp); rows beyond maxComputeWorkGroupCount[0] run
// in several dispatches.
#include "core/op_args.h"
#include "shaders/topk.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::TopkPush;

namespace {
// The bindings of shaders/topk.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{TOPK_BINDING_LOGITS, Access::read},
                                    {TOPK_BINDING_VALUES, Access::write},
                                    {TOPK_BINDING_INDICES, Access::write}};
}  // namespace

void topk(VulkanBackend& vb, const Tensor& logits, const Tensor& values, const Tensor& indices) {
  validate(TopkArgs{logits, values, indices});
  const int64_t n = logits.rows(), V = logits.cols(), k = values.cols();
  if (n == 0) return;
  const uint32_t wg = vb.reduction_wg();
  const Kernel& kern = vb.pipelines().get("topk", kBindings, sizeof(TopkPush), {wg}, vb.reduction_subgroup());
  const int64_t max_rows = vb.info().max_group_count[0];
  const Tensor vflat = values.reshape({n * k}), iflat = indices.reshape({n * k});
  auto rows_of = [&](const Tensor& flat, int64_t r0, int64_t nr) { return flat.slice_elems(r0 * k, nr * k); };
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t nr = std::min(max_rows, n - r0);
    const BoundTensor bx = vb.stream().bind(logits.slice_rows(r0, nr), 4),
                      bv = vb.stream().bind(rows_of(vflat, r0, nr), 4),
                      bi = vb.stream().bind(rows_of(iflat, r0, nr), 4);
    const TopkPush p{u32(V, "V"), u32(k, "k"), bx.elem, u32(logits.row_stride, "logits stride"),
                     bv.elem, bi.elem};
    const Binding bind[] = {bx.binding, bv.binding, bi.binding};
    vb.stream().dispatch(kern, bind, &p, uint32_t(nr), 1, 1, "topk");
  }
}

}  // namespace kllens::vk
