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
constexpr uint32_t kRows = 16;     // BR
constexpr uint32_t kThreads = 128;
constexpr int64_t kMaxHeadDim = 256;
}  // namespace

void attention(VulkanBackend& vb, const AttentionArgs& a) {
  KL_CHECK(a.batch >= 1 && a.seqlen >= 1 && a.past >= 0, "attention: batch {} seqlen {} past {}", a.batch,
           a.seqlen, a.past);
  KL_CHECK(a.heads >= 1 && a.kv_heads >= 1 && a.heads % a.kv_heads == 0, "attention: heads {} kv_heads {}",
           a.heads, a.kv_heads);
  KL_CHECK(a.head_dim >= 1 && a.head_dim <= kMaxHeadDim && a.v_head_dim >= 1 && a.v_head_dim <= kMaxHeadDim,
           "attention: head dims {} / {} outside [1, {}]", a.head_dim, a.v_head_dim, kMaxHeadDim);
  KL_CHECK(a.window >= 0 && a.meta >= 0, "attention: window {} meta {}", a.window, a.meta);
  KL_CHECK(a.k_cache.shape.size() == 3 && a.v_cache.shape.size() == 3 && a.k_cache.shape[0] == a.batch &&
               a.v_cache.shape[0] == a.batch && a.k_cache.shape[1] == a.v_cache.shape[1],
           "attention: caches {} and {} must be [{}, capacity, ·]", shape_str(a.k_cache.shape),
           shape_str(a.v_cache.shape), a.batch);
  const int64_t rows = a.batch * a.seqlen, cap = a.k_cache.shape[1], T = a.seqlen;
  const int64_t hd = a.head_dim, vhd = a.v_head_dim, g = a.heads / a.kv_heads;
  check_view(a.q, "attention: q", DType::F32, rows, a.heads * hd);
  check_view(a.k_cache, "attention: k_cache", DType::F32, a.batch * cap, a.kv_heads * hd);
  check_view(a.v_cache, "attention: v_cache", DType::F32, a.batch * cap, a.kv_heads * vhd);
  check_view(a.out, "attention: out", DType::F32, rows, a.heads * vhd);
  const int64_t end = a.past + T;
  KL_CHECK(end <= cap || (a.window > 0 && cap - a.meta >= a.window + T),
           "attention: capacity {} cannot hold positions up to {} (window {}, meta {}, {} new)", cap, end,
           a.window, a.meta, T);
  KL_CHECK(a.meta < cap || end <= cap, "attention: meta {} fills the capacity {}", a.meta, cap);

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

  const Kernel& k = vb.pipelines().get("attention", 4, sizeof(AttentionPush),
                                       {kThreads, kRows, bc, uint32_t(hd), uint32_t(vhd)});
  Stream& s = vb.stream();
  const BoundTensor bq = s.bind(a.q, 4, false), bk = s.bind(a.k_cache, 4, false),
                    bv = s.bind(a.v_cache, 4, false), bo = s.bind(a.out, 4, true);
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
