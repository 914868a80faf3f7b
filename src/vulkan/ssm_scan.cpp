// ssm_scan: the Mamba-1 selective scan (see SsmScanArgs and shaders/ssm_scan.comp).
// u, delta, z, out [B*T, I]; B, C [B*T, N] (strided column slices of x_proj's output);
// A F32 [I, N]; D F32 [I] or none; state F32 [B, I, N] read and updated. All fp32; the
// state of one (b, i) lives in registers of one thread for the whole sequence.
// The pipeline is specialised on N (register array size).
#include "shaders/ssm_scan.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::SsmScanPush;

namespace {
// The bindings of shaders/ssm_scan.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{SSM_SCAN_BINDING_U, Access::read},
                                    {SSM_SCAN_BINDING_DELTA, Access::read},
                                    {SSM_SCAN_BINDING_A, Access::read},
                                    {SSM_SCAN_BINDING_B, Access::read},
                                    {SSM_SCAN_BINDING_C, Access::read},
                                    {SSM_SCAN_BINDING_D, Access::read},
                                    {SSM_SCAN_BINDING_Z, Access::read},
                                    {SSM_SCAN_BINDING_STATE, Access::read_write},
                                    {SSM_SCAN_BINDING_OUT, Access::write}};
constexpr int64_t kMaxState = 256;
}

void ssm_scan(VulkanBackend& vb, const SsmScanArgs& a) {
  const int64_t Bt = a.batch, T = a.seqlen, I = a.u.cols(), N = a.A.cols();
  validate(a);
  // Device limit: the state of one channel lives in registers.
  KL_CHECK(N >= 1 && N <= kMaxState, "ssm_scan: state size {} outside [1, {}]", N, kMaxState);
  if (I == 0) return;

  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = vb.pipelines().get("ssm_scan", kBindings, sizeof(SsmScanPush), {wg, uint32_t(N)});
  Stream& s = vb.stream();
  const Tensor& D = a.D.empty() ? a.A : a.D;  // unused stand-ins keep every binding valid
  const Tensor& z = a.z.empty() ? a.u : a.z;
  const BoundTensor bu = s.bind(a.u, 4), bd = s.bind(a.delta, 4),
                    bA = s.bind(a.A, 4), bB = s.bind(a.B, 4),
                    bC = s.bind(a.C, 4), bD = s.bind(D, 4), bz = s.bind(z, 4),
                    bs = s.bind(a.state, 4), bo = s.bind(a.out, 4);
  const SsmScanPush p{u32(Bt, "batch"), u32(T, "seqlen"), u32(I, "channels"), u32(N, "state"),
                      bu.elem, u32(a.u.row_stride, "u stride"),
                      bd.elem, u32(a.delta.row_stride, "delta stride"),
                      bA.elem, u32(a.A.row_stride, "A stride"),
                      bB.elem, u32(a.B.row_stride, "B stride"),
                      bC.elem, u32(a.C.row_stride, "C stride"),
                      bD.elem, a.D.empty() ? 0u : 1u,
                      bz.elem, u32(z.row_stride, "z stride"),
                      a.z.empty() ? 0u : 1u, a.delta_softplus ? 1u : 0u,
                      bs.elem, u32(a.state.row_stride, "state stride"),
                      bo.elem, u32(a.out.row_stride, "out stride")};
  const Binding bind[] = {bu.binding, bd.binding, bA.binding, bB.binding, bC.binding,
                          bD.binding, bz.binding, bs.binding, bo.binding};
  KL_CHECK(Bt <= vb.info().max_group_count[1], "ssm_scan: batch {} too large", Bt);
  s.dispatch(k, bind, &p, groups(I, wg), uint32_t(Bt), 1, "ssm_scan");
}

}  // namespace kllens::vk
