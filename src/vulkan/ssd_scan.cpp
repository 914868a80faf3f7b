// ssd_scan: the Mamba-2 SSD scan (SsdScanArgs; kernels in shaders/ssd_scan.comp).
// x [B*T, nh*P], dt [B*T, nh], B, C [B*T, G*N] (strided column slices of in_proj / conv
// outputs), dt_bias, A, D F32 [nh], state F32 [B, nh, P, N] read and updated, out
// [B*T, nh*P]. All fp32.
//   T = 1 (decode): the recurrent step kernel, one thread per (b, h, p).
//   T > 1 (prefill): chunked SSD with `chunk` tokens per chunk in four dispatches —
//     cumsum (Δ, chunk-local Â) → chunk states → state passing over chunks (updates
//     `state`) → outputs (intra-chunk masked products + the entering state's term + D·x).
// Scratch per call: [2, B·nh·T] for Δ/Â and [B·nh·chunks, P·N] for chunk states.
// Pipelines are specialised on (P, N) and the shared tiles (LT = TS = 16, or 8 when
// 16 does not fit the device's shared memory).
#include "shaders/ssd_scan.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::SsdScanPush;

namespace {
// The bindings of shaders/ssd_scan.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{SSD_SCAN_BINDING_X, Access::read},
                                    {SSD_SCAN_BINDING_DT, Access::read},
                                    {SSD_SCAN_BINDING_DT_BIAS, Access::read},
                                    {SSD_SCAN_BINDING_A, Access::read},
                                    {SSD_SCAN_BINDING_B, Access::read},
                                    {SSD_SCAN_BINDING_C, Access::read},
                                    {SSD_SCAN_BINDING_D, Access::read},
                                    {SSD_SCAN_BINDING_STATE, Access::read_write},
                                    {SSD_SCAN_BINDING_OUT, Access::write},
                                    {SSD_SCAN_BINDING_CUM, Access::read_write},
                                    {SSD_SCAN_BINDING_CHUNK_STATE, Access::read_write}};
constexpr int64_t kMaxState = 256, kMaxHeadDim = 256;
constexpr uint32_t kThreads = 128;       // kernels 2 and 4
}  // namespace

void ssd_scan(VulkanBackend& vb, const SsdScanArgs& a) {
  const int64_t Bt = a.batch, T = a.seqlen, nh = a.heads, P = a.head_dim, G = a.groups, N = a.state_size;
  validate(a);
  // Device limits: a head's row and state size in registers and shared memory.
  KL_CHECK(P <= kMaxHeadDim && N <= kMaxState, "ssd_scan: head dim {} / state {} above {}", P, N, kMaxState);

  const int64_t Q = std::min(a.chunk, T), nc = (T + Q - 1) / Q;
  const bool chunked = T > 1;
  Stream& s = vb.stream();
  // Scratch (unused by the step kernel: a 1-element stand-in keeps its bindings valid).
  const Tensor cum = vb.alloc(DType::F32, {chunked ? 2 * Bt * nh * T : 1});
  const Tensor cst = vb.alloc(DType::F32, {chunked ? Bt * nh * nc * P * N : 1});
  const Tensor& D = a.D.empty() ? a.A : a.D;
  const BoundTensor bx = s.bind(a.x, 4), bdt = s.bind(a.dt, 4), bbias = s.bind(a.dt_bias, 4),
                    bA = s.bind(a.A, 4), bB = s.bind(a.B, 4), bC = s.bind(a.C, 4),
                    bD = s.bind(D, 4), bst = s.bind(a.state, 4), bo = s.bind(a.out, 4),
                    bcum = s.bind(cum, 4), bcs = s.bind(cst, 4);
  const SsdScanPush p{u32(Bt, "batch"), u32(T, "seqlen"), u32(nh, "heads"), u32(nh / G, "heads per group"),
                      u32(Q, "chunk"), u32(nc, "chunks"), a.dt_min, a.dt_max,
                      bx.elem, u32(a.x.row_stride, "x stride"), bdt.elem, u32(a.dt.row_stride, "dt stride"),
                      bbias.elem, bA.elem, bB.elem, u32(a.B.row_stride, "B stride"),
                      bC.elem, u32(a.C.row_stride, "C stride"), bD.elem, a.D.empty() ? 0u : 1u,
                      bst.elem, u32(a.state.row_stride, "state stride"), bo.elem, u32(a.out.row_stride, "out stride"),
                      bcum.elem, bcs.elem};
  const Binding bind[] = {bx.binding, bdt.binding, bbias.binding, bA.binding, bB.binding, bC.binding,
                          bD.binding, bst.binding, bo.binding, bcum.binding, bcs.binding};
  const auto& lim = vb.info().max_group_count;
  KL_CHECK(Bt <= lim[2] && nh <= lim[1], "ssd_scan: batch {} / heads {} too large", Bt, nh);

  // Shared tiles of kernels 2 and 4.
  uint32_t tile = 16;
  auto shared4 = [&](int64_t t) { return 4 * (t * N + t * N + t * P + t * t + t); };
  while (tile > 4 && shared4(tile) > int64_t(vb.info().max_shared_bytes)) tile /= 2;
  KL_CHECK(shared4(tile) <= int64_t(vb.info().max_shared_bytes), "ssd_scan: P {} N {} exceed shared memory", P, N);
  const std::vector<uint32_t> spec_wg = {vb.elementwise_wg(), uint32_t(P), uint32_t(N), tile, tile};
  const std::vector<uint32_t> spec_tiles = {kThreads, uint32_t(P), uint32_t(N), tile, tile};
  auto kernel = [&](const char* name, uint32_t nbind, const std::vector<uint32_t>& spec) -> const Kernel& {
    return vb.pipelines().get(name, std::span(kBindings, nbind), sizeof(SsdScanPush), spec);
  };
  auto used = [&](uint32_t n) { return std::span<const Binding>(bind, n); };
  const uint32_t wg = vb.elementwise_wg();

  if (!chunked) {
    s.dispatch(kernel("ssd_scan_step", 9, spec_wg), used(9), &p, groups(nh * P, wg), uint32_t(Bt), 1,
               "ssd_scan_step");
    return;
  }
  KL_CHECK(nc <= lim[0], "ssd_scan: {} chunks", nc);
  s.dispatch(kernel("ssd_scan_cumsum", 10, spec_wg), used(10), &p, groups(Bt * nh * nc, wg), 1, 1,
             "ssd_scan_cumsum");
  s.dispatch(kernel("ssd_scan_state", 11, spec_tiles), used(11), &p, uint32_t(nc), uint32_t(nh), uint32_t(Bt),
             "ssd_scan_state");
  s.dispatch(kernel("ssd_scan_pass", 11, spec_wg), used(11), &p, groups(P * N, wg), uint32_t(nh), uint32_t(Bt),
             "ssd_scan_pass");
  const int64_t tiles = nc * ((Q + tile - 1) / tile);
  KL_CHECK(tiles <= lim[0], "ssd_scan: {} output tiles", tiles);
  s.dispatch(kernel("ssd_scan_out", 11, spec_tiles), used(11), &p, uint32_t(tiles), uint32_t(nh), uint32_t(Bt),
             "ssd_scan_out");
}

}  // namespace kllens::vk
