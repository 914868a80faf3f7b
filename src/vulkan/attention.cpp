// attention: causal GQA over a KV cache with sliding window and always-visible prefix
// (AttentionArgs; the kernel and its tiling in shaders/attention.comp). Prefill and decode
// are the same kernel: a workgroup takes BR (query, head-of-the-group) rows of one kv head,
// so a decode step's g heads share its K/V tiles. q F32 [B*T, nh*hd] (strided rows),
// k_cache F32 [B, cap, nkv*hd], v_cache F32 [B, cap, nkv*vhd], out F32 [B*T, nh*vhd].
// Pipelines are specialised on (hd, vhd) and the key tile BC, the largest of 32/16/8
// whose tiles fit the device's shared memory.
#include "shaders/attention.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::AttentionPush;

namespace {
// The bindings of shaders/attention.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{ATTENTION_BINDING_Q, Access::read},
                                    {ATTENTION_BINDING_K_CACHE, Access::read},
                                    {ATTENTION_BINDING_V_CACHE, Access::read},
                                    {ATTENTION_BINDING_OUT, Access::write}};
constexpr uint32_t kRows = 16;     // BR
constexpr uint32_t kThreads = 128;
constexpr int64_t kMaxHeadDim = 256;
}  // namespace

void attention(VulkanBackend& vb, const AttentionArgs& a) {
  validate(a);
  // Device limits: head dims held in registers.
  KL_CHECK(a.head_dim <= kMaxHeadDim && a.v_head_dim <= kMaxHeadDim,
           "attention: head dims {} / {} above {}", a.head_dim, a.v_head_dim, kMaxHeadDim);
  const int64_t cap = a.k_cache.shape[1], T = a.seqlen;
  const int64_t hd = a.head_dim, vhd = a.v_head_dim, g = a.heads / a.kv_heads, end = a.past + T;

  // The largest key tile whose shared memory fits.
  const int64_t kvd = std::max(hd, vhd);
  uint32_t bc = 32;
  auto shared_bytes = [&](uint32_t c) { return 4 * (kRows * hd + int64_t(c) * kvd + kRows * c + 3 * kRows); };
  while (bc > 8 && shared_bytes(bc) > int64_t(vb.info().max_shared_bytes)) bc /= 2;
  KL_CHECK(shared_bytes(bc) <= int64_t(vb.info().max_shared_bytes),
           "attention: head dims {} / {} need {} bytes of shared memory", hd, vhd, shared_bytes(bc));
  const int64_t tiles = (T * g + kRows - 1) / kRows;
  KL_CHECK(tiles <= vb.info().max_group_count[0] && a.kv_heads <= vb.info().max_group_count[1] &&
               a.batch <= vb.info().max_group_count[2],
           "attention: grid {} x {} x {} too large", tiles, a.kv_heads, a.batch);

  const Kernel& k = vb.pipelines().get("attention", kBindings, sizeof(AttentionPush),
                                       {kThreads, kRows, bc, uint32_t(hd), uint32_t(vhd)});
  Stream& s = vb.stream();
  const BoundTensor bq = s.bind(a.q, 4), bk = s.bind(a.k_cache, 4),
                    bv = s.bind(a.v_cache, 4), bo = s.bind(a.out, 4);
  const AttentionPush p{u32(T, "seqlen"), u32(a.past, "past"), u32(g, "group"), u32(a.window, "window"),
                        u32(a.meta, "meta"), u32(cap, "capacity"), a.scale,
                        bq.elem, u32(a.q.row_stride, "q stride"),
                        bk.elem, u32(a.k_cache.row_stride, "k stride"),
                        bv.elem, u32(a.v_cache.row_stride, "v stride"),
                        bo.elem, u32(a.out.row_stride, "out stride")};
  KL_CHECK(end < (int64_t(1) << 31), "attention: position {} too large", end);
  const Binding bind[] = {bq.binding, bk.binding, bv.binding, bo.binding};
  s.dispatch(k, bind, &p, uint32_t(tiles), uint32_t(a.kv_heads), uint32_t(a.batch), "attention");
}

}  // namespace kllens::vk
