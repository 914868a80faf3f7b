// matmul_q8act: matmul in MatmulMode::fast on Q8_C / Q4_C / Q8_0 / Q4_0 weights, the
// arithmetic of src/cpu/matmul_q8act.h.
// GEMV (n ≤ kGemvMaxRows x rows, decode): one dispatch of matmul_q8act.comp's GEMV, one
// workgroup per (GemvShape::rows_for(N) outputs, x row), which quantises the x blocks it
// reads itself (no quantize dispatch, no scratch).
// GEMM (prefill): two dispatches, x quantised to int8 per 32-block once (matmul_q8act.comp's
// quantize kernel; q, d, s in the backend's scratch slots, reused across launches), then
// int8 tiles in shared memory, 64×64 outputs per workgroup of G×G threads
// (shaders/matmul_q8act_gemm.comp; G = VulkanBackend::gemm_threads()). The products use
// 4×8-bit packed dot products where the device has shaderIntegerDotProduct (the *_dot
// variants) unless GemvShape::dot is off ($KLLENS_VULKAN_GEMV=nodot), else plain integer
// multiply-adds; both are exact.
// Weights beyond maxStorageBufferRange run in row chunks, as in matmul.cpp.
#include <string>

#include "core/op_args.h"
#include "shaders/matmul_q8act.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::MatmulQ8actGemvPush;
using shader::MatmulQ8actPush;
using shader::QuantizeActPush;

namespace {
// The bindings of shaders/matmul_q8act.comp's two kernels and of matmul_q8act_gemm.comp as
// this launcher uses them (checked against the SPIR-V when the pipelines are made; the
// per-row scales are absent from the Q8_0 / Q4_0 variants).
constexpr BindingUse kQuantizeBindings[] = {{QUANTIZE_ACT_BINDING_X, Access::read},
                                            {QUANTIZE_ACT_BINDING_Q, Access::write},
                                            {QUANTIZE_ACT_BINDING_D, Access::write},
                                            {QUANTIZE_ACT_BINDING_S, Access::write}};
constexpr BindingUse kGemvBindings[] = {{MATMUL_Q8ACT_GEMV_BINDING_X, Access::read},
                                        {MATMUL_Q8ACT_GEMV_BINDING_WEIGHT, Access::read},
                                        {MATMUL_Q8ACT_GEMV_BINDING_SCALE, Access::read},
                                        {MATMUL_Q8ACT_GEMV_BINDING_BIAS, Access::read},
                                        {MATMUL_Q8ACT_GEMV_BINDING_OUT, Access::write}};
constexpr BindingUse kGemmBindings[] = {{MATMUL_Q8ACT_BINDING_Q, Access::read},
                                        {MATMUL_Q8ACT_BINDING_D, Access::read},
                                        {MATMUL_Q8ACT_BINDING_S, Access::read},
                                        {MATMUL_Q8ACT_BINDING_WEIGHT, Access::read},
                                        {MATMUL_Q8ACT_BINDING_SCALE, Access::read},
                                        {MATMUL_Q8ACT_BINDING_BIAS, Access::read},
                                        {MATMUL_Q8ACT_BINDING_OUT, Access::write}};

const char* type_suffix(DType t) {
  switch (t) {
    case DType::Q8_C: return "q8_c";
    case DType::Q4_C: return "q4_c";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    default: fail("matmul_q8act: {} weights are not supported", dtype_name(t));
  }
}

constexpr int64_t kGemvMaxRows = 4;  // as matmul.cpp: more x rows run the tiled GEMM
constexpr uint32_t kGemmTile = 64;   // BM = BN of matmul_q8act_gemm.comp
constexpr uint32_t kGemmStageBlocks = 2;  // BKB: 32-blocks staged per barrier pair

// The largest row count of the weight per binding (maxStorageBufferRange) and per grid
// (maxComputeWorkGroupCount[0] workgroups of `rows_per_group` rows).
int64_t row_chunk(VulkanBackend& vb, int64_t row_bytes, int64_t rows_per_group) {
  const int64_t slack = int64_t(vb.info().min_storage_offset_alignment) + 4;
  const int64_t chunk = std::max<int64_t>(1, (int64_t(vb.info().max_storage_buffer_range) - slack) / row_bytes);
  return std::min<int64_t>(chunk, int64_t(vb.info().max_group_count[0]) * rows_per_group);
}

// Rows [j0, j0 + nc) of W bound for a product kernel: the weight bytes, the per-row scales
// (Q8_C / Q4_C), the bias and out's matching columns. A binding the variant does not read
// (the scales of a block type, an absent bias) gets `unused`, a tensor already bound.
struct BoundPart {
  BoundTensor w, scale, bias, out;
};
BoundPart bind_part(VulkanBackend& vb, const Weight& w, const Tensor& out, int64_t j0, int64_t nc,
                    const Tensor& unused) {
  const Weight part = w.slice_rows(j0, nc);
  const bool per_row = w.w.dtype == DType::Q8_C || w.w.dtype == DType::Q4_C;
  BoundPart b{vb.stream().bind(part.w, 1), {}, {}, {}};
  // Word reads: Q8_C/Q4_C rows are padded to 4 bytes, Q8_0/Q4_0 blocks are 34/18 bytes.
  KL_CHECK(b.w.elem % (per_row ? 4 : 2) == 0, "matmul_q8act: weight view at byte {} is not aligned", b.w.elem);
  b.scale = vb.stream().bind(per_row ? part.scale : unused, 4);
  b.bias = vb.stream().bind(part.bias.empty() ? unused : part.bias, 4);
  b.out = vb.stream().bind(out.slice_cols(j0, nc), 4);
  return b;
}

void gemv(VulkanBackend& vb, const Tensor& x, const Weight& w, const Tensor& out, const std::string& variant) {
  const int64_t n = x.rows(), K = x.cols(), N = w.out_features(), nb = (K + 31) / 32;
  const GemvShape& gs = vb.gemv_shape();
  const uint32_t rows = gs.rows_for(N);
  const Kernel& k = vb.pipelines().get(variant, kGemvBindings, sizeof(MatmulQ8actGemvPush), {gs.wg, rows});
  const int64_t row_bytes = int64_t(w.w.row_bytes()), chunk = row_chunk(vb, row_bytes, rows);
  const BoundTensor bx = vb.stream().bind(x, 4);
  for (int64_t j0 = 0; j0 < N; j0 += chunk) {
    const int64_t nc = std::min(chunk, N - j0);
    const BoundPart b = bind_part(vb, w, out, j0, nc, x);
    const MatmulQ8actGemvPush p{u32(n, "n"), u32(K, "K"), u32(nc, "N"), u32(nb, "blocks"), bx.elem,
                                u32(x.row_stride, "x stride"), b.w.elem, u32(row_bytes, "weight stride"), b.scale.elem,
                                b.bias.elem, w.bias.empty() ? 0u : 1u, b.out.elem, u32(out.row_stride, "out stride")};
    const Binding bind[] = {bx.binding, b.w.binding, b.scale.binding, b.bias.binding, b.out.binding};
    vb.stream().dispatch(k, bind, &p, groups(nc, rows), uint32_t(n), 1, variant.c_str());
  }
}
}  // namespace

void matmul_q8act(VulkanBackend& vb, const Tensor& x, const Weight& w, const Tensor& out) {
  validate(MatmulArgs{x, w, out});
  const int64_t n = x.rows(), K = x.cols(), N = w.out_features();
  const DType t = w.w.dtype;
  if (n == 0 || N == 0) return;
  KL_CHECK(n <= int64_t(vb.info().max_group_count[1]), "matmul_q8act: {} rows is too many", n);
  const GemvShape& gs = vb.gemv_shape();
  const std::string dot = gs.dot && vb.info().integer_dot_product ? "_dot" : "";
  if (n <= kGemvMaxRows) return gemv(vb, x, w, out, std::string("matmul_q8act_") + type_suffix(t) + dot);

  const uint32_t G = vb.gemm_threads(), T = kGemmTile / G;
  const int64_t nb = (K + 31) / 32;
  const Tensor q = vb.scratch(ScratchSlot::act_q, DType::I32, {n, nb * 8}),
               d = vb.scratch(ScratchSlot::act_d, DType::F32, {n, nb}),
               s = vb.scratch(ScratchSlot::act_s, DType::I32, {n, nb});
  const BoundTensor bq = vb.stream().bind(q, 4), bd = vb.stream().bind(d, 4),
                    bs = vb.stream().bind(s, 4);
  {
    const BoundTensor bx = vb.stream().bind(x, 4);
    const Kernel& k = vb.pipelines().get("matmul_q8act_quantize", kQuantizeBindings, sizeof(QuantizeActPush), {gs.wg});
    const QuantizeActPush p{u32(n, "n"), u32(K, "K"), u32(nb, "blocks"), bx.elem, u32(x.row_stride, "x stride")};
    const Binding bind[] = {bx.binding, bq.binding, bd.binding, bs.binding};
    vb.stream().dispatch(k, bind, &p, groups(nb, gs.wg), uint32_t(n), 1, "matmul_q8act_quantize");
  }

  const std::string variant = std::string("matmul_q8act_gemm_") + type_suffix(t) + dot;
  const Kernel& k = vb.pipelines().get(variant, kGemmBindings, sizeof(MatmulQ8actPush), {G, G, T, kGemmStageBlocks});
  const int64_t row_bytes = int64_t(w.w.row_bytes()), chunk = row_chunk(vb, row_bytes, kGemmTile);
  const Binding rq = bq.binding, rd = bd.binding, rs = bs.binding;
  for (int64_t j0 = 0; j0 < N; j0 += chunk) {
    const int64_t nc = std::min(chunk, N - j0);
    const BoundPart b = bind_part(vb, w, out, j0, nc, d);
    const MatmulQ8actPush p{u32(n, "n"), u32(K, "K"), u32(nc, "N"), u32(nb, "blocks"), b.w.elem,
                            u32(row_bytes, "weight stride"), b.scale.elem, b.bias.elem, w.bias.empty() ? 0u : 1u,
                            b.out.elem, u32(out.row_stride, "out stride")};
    const Binding bind[] = {rq, rd, rs, b.w.binding, b.scale.binding, b.bias.binding, b.out.binding};
    vb.stream().dispatch(k, bind, &p, groups(nc, kGemmTile), groups(n, kGemmTile), 1, variant.c_str());
  }
}

}  // namespace kllens::vk
