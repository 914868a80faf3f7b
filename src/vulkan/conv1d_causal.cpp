// conv1d_causal: Mamba's causal depthwise conv with carried state (see Conv1dArgs).
//   out[b,t,c] = act( bias[c] + Σ_{k<K} w[c,k] · xin[b, t-K+1+k, c] ),  xin = [state | x]
// x [B*T, C] (strided), weight F32 [C, K], bias F32 [C] or none, state F32 [B, K-1, C]
// (read, then updated to the last K-1 rows of xin), out F32 [B*T, C].
// Two dispatches of shaders/conv1d_causal.comp: outputs (one thread per b, t, c), then,
// after a barrier, the state update (one thread per b, c).
#include "shaders/conv1d_causal.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::Conv1dPush;

namespace {
// The bindings of shaders/conv1d_causal.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{CONV1D_CAUSAL_BINDING_X, Access::read},
                                    {CONV1D_CAUSAL_BINDING_WEIGHT, Access::read},
                                    {CONV1D_CAUSAL_BINDING_BIAS, Access::read},
                                    {CONV1D_CAUSAL_BINDING_STATE, Access::read_write},
                                    {CONV1D_CAUSAL_BINDING_OUT, Access::write}};
}  // namespace

void conv1d_causal(VulkanBackend& vb, const Conv1dArgs& a) {
  const int64_t B = a.batch, T = a.seqlen, C = a.x.cols(), K = a.weight.cols();
  validate(a);
  if (C == 0) return;

  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = vb.pipelines().get("conv1d_causal", kBindings, sizeof(Conv1dPush), {wg});
  Stream& s = vb.stream();
  // With K == 1 there is no state; bind x in its place (never read).
  const Tensor& state = K > 1 ? a.state : a.x;
  const Tensor& bias = a.bias.empty() ? a.weight : a.bias;
  const BoundTensor bx = s.bind(a.x, 4), bw = s.bind(a.weight, 4),
                    bb = s.bind(bias, 4), bs = s.bind(state, 4),
                    bo = s.bind(a.out, 4);
  Conv1dPush p{u32(B, "batch"), u32(T, "seqlen"), u32(C, "channels"), u32(K, "kernel"), 0, 0,
               bx.elem, u32(a.x.row_stride, "x stride"), bw.elem, u32(a.weight.row_stride, "w stride"),
               bb.elem, a.bias.empty() ? 0u : 1u, bs.elem, u32(state.row_stride, "state stride"),
               bo.elem, u32(a.out.row_stride, "out stride"), a.silu ? 1u : 0u};
  const Binding bind[] = {bx.binding, bw.binding, bb.binding, bs.binding, bo.binding};
  const int64_t rows = B * T, max_rows = vb.info().max_group_count[1];
  for (int64_t r0 = 0; r0 < rows; r0 += max_rows) {
    p.r0 = uint32_t(r0);
    s.dispatch(k, bind, &p, groups(C, wg), uint32_t(std::min(max_rows, rows - r0)), 1, "conv1d_causal");
  }
  if (K > 1) {
    p.mode = 1;
    KL_CHECK(B <= max_rows, "conv1d_causal: batch {} too large", B);
    s.dispatch(k, bind, &p, groups(C, wg), uint32_t(B), 1, "conv1d_causal_state");
  }
}

}  // namespace kllens::vk
