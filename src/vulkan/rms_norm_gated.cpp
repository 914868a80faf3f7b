// rms_norm_gated: Mamba-2's gated RMSNorm per group of `group_size` columns (see
// Backend::rms_norm_gated and shaders/rms_norm_gated.comp).
// y, z, out F32 [n, I] (strided rows), w F32 [I]; I a multiple of group_size.
// One workgroup per (group, row); rows beyond maxComputeWorkGroupCount[1] run in several
// dispatches.
#include "core/op_args.h"
#include "shaders/rms_norm_gated.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::RmsNormGatedPush;

namespace {
// The bindings of shaders/rms_norm_gated.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{RMS_NORM_GATED_BINDING_Y, Access::read},
                                    {RMS_NORM_GATED_BINDING_Z, Access::read},
                                    {RMS_NORM_GATED_BINDING_W, Access::read},
                                    {RMS_NORM_GATED_BINDING_OUT, Access::write}};
}  // namespace

void rms_norm_gated(VulkanBackend& vb, const Tensor& y, const Tensor& z, const Tensor& w,
                    int64_t group_size, float eps, const Tensor& out) {
  validate(RmsNormGatedArgs{y, z, w, group_size, eps, out});
  const int64_t n = y.rows(), I = y.cols();
  if (n == 0 || I == 0) return;
  const int64_t ngroups = I / group_size;
  KL_CHECK(ngroups <= int64_t(vb.info().max_group_count[0]), "rms_norm_gated: {} groups", ngroups);
  const uint32_t wg = vb.reduction_wg();
  const Kernel& k = vb.pipelines().get("rms_norm_gated", kBindings, sizeof(RmsNormGatedPush), {wg},
                                      vb.reduction_subgroup());
  const int64_t max_rows = vb.info().max_group_count[1];
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t nr = std::min(max_rows, n - r0);
    const BoundTensor by = vb.stream().bind(y.slice_rows(r0, nr), 4),
                      bz = vb.stream().bind(z.slice_rows(r0, nr), 4),
                      bw = vb.stream().bind(w, 4),
                      bo = vb.stream().bind(out.slice_rows(r0, nr), 4);
    const RmsNormGatedPush p{u32(group_size, "group size"), eps, by.elem, u32(y.row_stride, "y stride"),
                             bz.elem, u32(z.row_stride, "z stride"), bw.elem, bo.elem,
                             u32(out.row_stride, "out stride")};
    const Binding bind[] = {by.binding, bz.binding, bw.binding, bo.binding};
    vb.stream().dispatch(k, bind, &p, uint32_t(ngroups), uint32_t(nr), 1, "rms_norm_gated");
  }
}

}  // namespace kllens::vk
