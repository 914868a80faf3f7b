// kl_reduce: the fused per-token comparison of teacher and student logits (kKlStats in
// backend.h; precision notes in shaders/kl_reduce.comp). teacher, student F32 [n, V]
// (strided rows), targets I32 [n], out F32 [n, 8] (strided rows). One workgroup per
// token; rows beyond maxComputeWorkGroupCount[0], or more logits than one binding may
// span (maxStorageBufferRange), run in several dispatches.
#include <algorithm>

#include "core/op_args.h"
#include "shaders/kl_reduce.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::KlReducePush;

namespace {
// The bindings of shaders/kl_reduce.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{KL_REDUCE_BINDING_TEACHER, Access::read},
                                    {KL_REDUCE_BINDING_STUDENT, Access::read},
                                    {KL_REDUCE_BINDING_TARGETS, Access::read},
                                    {KL_REDUCE_BINDING_OUT, Access::write}};
}  // namespace

void kl_reduce(VulkanBackend& vb, const Tensor& teacher, const Tensor& student, const Tensor& targets,
               const Tensor& out) {
  validate(KlReduceArgs{teacher, student, targets, out});
  const int64_t n = teacher.rows(), V = teacher.cols();
  if (n == 0) return;
  const uint32_t wg = vb.reduction_wg();
  const Kernel& k = vb.pipelines().get("kl_reduce", kBindings, sizeof(KlReducePush), {wg}, vb.reduction_subgroup());
  const int64_t max_rows = std::min({int64_t(vb.info().max_group_count[0]), vb.rows_per_binding(teacher, 4),
                                     vb.rows_per_binding(student, 4)});
  const Tensor flat = targets.reshape({n});
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t nr = std::min(max_rows, n - r0);
    const Tensor y = flat.slice_elems(r0, nr);
    const BoundTensor bt = vb.stream().bind(teacher.slice_rows(r0, nr), 4),
                      bs = vb.stream().bind(student.slice_rows(r0, nr), 4),
                      by = vb.stream().bind(y, 4),
                      bo = vb.stream().bind(out.slice_rows(r0, nr), 4);
    const KlReducePush p{u32(V, "V"), bt.elem, u32(teacher.row_stride, "teacher stride"), bs.elem,
                         u32(student.row_stride, "student stride"), by.elem, bo.elem,
                         u32(out.row_stride, "out stride")};
    const Binding bind[] = {bt.binding, bs.binding, by.binding, bo.binding};
    vb.stream().dispatch(k, bind, &p, uint32_t(nr), 1, 1, "kl_reduce");
  }
}

}  // namespace kllens::vk
