// rms_norm and add_rms_norm (delta given: residual += delta, written back, then the norm).
//   out[r,k] = w[k] · (x[r,k] · 1/sqrt(Σ_k x[r,k]² / H + eps))
// x/residual, delta, out F32 [n, H] with their own row strides; w F32 [H]. One workgroup
// per row; the ADD specialization constant selects the fused residual add.
#include "core/op_args.h"
#include "shaders/rms_norm.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::RmsNormPush;

namespace {
// The bindings of shaders/rms_norm.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{RMS_NORM_BINDING_X, Access::read_write},
                                    {RMS_NORM_BINDING_DELTA, Access::read},
                                    {RMS_NORM_BINDING_W, Access::read},
                                    {RMS_NORM_BINDING_OUT, Access::read_write}};
}  // namespace

void rms_norm(VulkanBackend& vb, const Tensor& x, const Tensor* delta, const Tensor& w, float eps,
              const Tensor& out) {
  validate(RmsNormArgs{x, delta, w, eps, out});
  const int64_t n = x.rows(), H = x.cols();
  if (n == 0 || H == 0) return;
  const uint32_t wg = vb.reduction_wg();
  const Kernel& k = vb.pipelines().get("rms_norm", kBindings, sizeof(RmsNormPush), {wg, delta ? 1u : 0u},
                                      vb.reduction_subgroup());
  const char* label = delta ? "add_rms_norm" : "rms_norm";
  const int64_t max_rows = vb.info().max_group_count[0];
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t nr = std::min(max_rows, n - r0);
    // Binding 0 is bound as written even without delta: the shader's store to it sits
    // behind the ADD specialization constant, so it stays in the module and the validation
    // layer counts binding 0 as written; ordering it as a read only (no barrier after an
    // earlier read of x, e.g. a hook's copy of the residual) is a WAR hazard to it.
    const BoundTensor bx = vb.stream().bind(x.slice_rows(r0, nr), 4);
    // Without delta, binding 1 (unused) aliases x read-only.
    const BoundTensor bd = vb.stream().bind((delta ? *delta : x).slice_rows(r0, nr), 4);
    const BoundTensor bw = vb.stream().bind(w, 4);
    const BoundTensor bo = vb.stream().bind(out.slice_rows(r0, nr), 4);
    RmsNormPush p{u32(H, "H"), eps, bx.elem, u32(x.row_stride, "x stride"), bd.elem,
                  u32(delta ? delta->row_stride : x.row_stride, "delta stride"), bw.elem, bo.elem,
                  u32(out.row_stride, "out stride")};
    const Binding bind[] = {bx.binding, bd.binding, bw.binding, bo.binding};
    vb.stream().dispatch(k, bind, &p, uint32_t(nr), 1, 1, label);
  }
}

}  // namespace kllens::vk
