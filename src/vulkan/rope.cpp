// rope: NeoX rotate-half rotary embedding in place on x [B*T, heads*hd] (strided rows),
// inv_freq F32 [hd/2]; token t of each sequence at position past + t. One thread per
// (pair, head, row) of shaders/rope.comp; rows beyond maxComputeWorkGroupCount[1] run in
// several dispatches.
#include "core/op_args.h"
#include "shaders/rope.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::RopePush;

namespace {
// The bindings of shaders/rope.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{ROPE_BINDING_X, Access::read_write},
                                    {ROPE_BINDING_INV_FREQ, Access::read}};
}  // namespace

void rope(VulkanBackend& vb, const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
          int64_t past, int64_t heads, int64_t head_dim) {
  validate(RopeArgs{x, inv_freq, batch, seqlen, past, heads, head_dim});
  const int64_t rows = batch * seqlen, half = head_dim / 2;
  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = vb.pipelines().get("rope", kBindings, sizeof(RopePush), {wg});
  const int64_t max_rows = vb.info().max_group_count[1];
  for (int64_t r0 = 0; r0 < rows; r0 += max_rows) {
    const int64_t n = std::min(max_rows, rows - r0);
    const BoundTensor bx = vb.stream().bind(x.slice_rows(r0, n), 4),
                      bf = vb.stream().bind(inv_freq, 4);
    const RopePush p{u32(n, "rows"), u32(r0, "row"), u32(seqlen, "seqlen"), u32(past, "past"),
                     u32(heads, "heads"), u32(half, "half head dim"), bx.elem, u32(x.row_stride, "x stride"), bf.elem};
    const Binding bind[] = {bx.binding, bf.binding};
    vb.stream().dispatch(k, bind, &p, groups(heads * half, wg), uint32_t(n), 1, "rope");
  }
}

}  // namespace kllens::vk
