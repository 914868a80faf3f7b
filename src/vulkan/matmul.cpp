// matmul: out[r, j] = Σ_k x[r, k] · W[j, k] (+ bias[j])
// x F32 [n, K] (strided rows), W [N, K] F32/F16/BF16/Q8_C/Q4_C/Q8_0/Q4_0 converted
// element by element to F32 in the kernel exactly as the CPU's dequant_row (per-row
// scales [N] for Q8_C/Q4_C in Weight::scale), bias F32 [N] or none, out F32 [n, N]
// (strided rows). fp32 accumulation.
// GEMV (shaders/matmul_gemv.comp) for n ≤ kGemvMaxRows, tiled GEMM otherwise. GEMV's
// workgroup shape and whether it reads by 32-blocks are the backend's (gemv_shape(); rows
// per workgroup from N, rows_for);
// a weight view not aligned for word reads runs element by element. Weights
// larger than maxStorageBufferRange (a 50280×768 F32 lm_head) run in row chunks, each
// writing its own column range of out; x and out larger than it in blocks of rows.
#include <string>

#include "core/op_args.h"
#include "shaders/matmul.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::MatmulPush;

namespace {
// The bindings of shaders/matmul.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{MATMUL_BINDING_X, Access::read},
                                    {MATMUL_BINDING_WEIGHT, Access::read},
                                    {MATMUL_BINDING_BIAS, Access::read},
                                    {MATMUL_BINDING_OUT, Access::write},
                                    {MATMUL_BINDING_SCALE, Access::read}};
constexpr int64_t kGemvMaxRows = 4;
constexpr uint32_t kGemmTile = 64;    // BM = BN of matmul_gemm.comp

// Whether the weight rows are aligned for matmul_gemv.comp's word reads by 32-blocks
// (shaders/weight_block.glsl): F16/BF16 rows on an even element, Q8_C/Q4_C on a word
// (their rows are padded to 4 bytes), Q8_0/Q4_0 on an even byte (blocks are 34/18 bytes).
bool gemv_blocks_aligned(DType t, uint32_t w_off, int64_t w_stride) {
  switch (t) {
    case DType::F16:
    case DType::BF16: return w_off % 2 == 0 && w_stride % 2 == 0;
    case DType::Q8_C:
    case DType::Q4_C: return w_off % 4 == 0 && w_stride % 4 == 0;
    case DType::Q8_0:
    case DType::Q4_0: return w_off % 2 == 0 && w_stride % 2 == 0;
    default: return true;
  }
}

std::string variant(DType t, bool gemv) {
  const char* form = gemv ? "matmul_gemv_" : "matmul_gemm_";
  switch (t) {
    case DType::F32: return std::string(form) + "f32";
    case DType::F16: return std::string(form) + "f16";
    case DType::BF16: return std::string(form) + "bf16";
    case DType::Q8_C: return std::string(form) + "q8_c";
    case DType::Q4_C: return std::string(form) + "q4_c";
    case DType::Q8_0: return std::string(form) + "q8_0";
    case DType::Q4_0: return std::string(form) + "q4_0";
    default: fail("matmul: {} weights are not supported", dtype_name(t));
  }
}
}  // namespace

void matmul(VulkanBackend& vb, const Tensor& x, const Weight& w, const Tensor& out) {
  validate(MatmulArgs{x, w, out});
  const int64_t n = x.rows(), K = x.cols(), N = w.out_features();
  const bool quant = dtype_is_quantized(w.w.dtype);
  const bool per_row = w.w.dtype == DType::Q8_C || w.w.dtype == DType::Q4_C;
  const bool gemv = n <= kGemvMaxRows;
  // GEMV reduces with subgroupAdd where the device has subgroup arithmetic (*_sg), in the
  // subgroup size the backend picked for reductions.
  const std::string name = variant(w.w.dtype, gemv) + (gemv && vb.subgroup_reduce() ? "_sg" : "");
  KL_CHECK((w.w.dtype != DType::F16 && w.w.dtype != DType::BF16) || vb.info().storage16,
           "matmul: {} needs 16-bit storage", dtype_name(w.w.dtype));
  if (n == 0 || N == 0) return;

  const uint32_t nbind = per_row ? 5 : 4;  // + the scales of Q8_C / Q4_C
  const GemvShape& gs = vb.gemv_shape();
  const uint32_t rows = gs.rows_for(N);
  const auto kernel = [&](bool blocked) -> const Kernel& {
    if (!gemv)
      return vb.pipelines().get(name, std::span(kBindings, nbind), sizeof(MatmulPush),
                                {vb.gemm_threads(), vb.gemm_threads()});
    return vb.pipelines().get(name, std::span(kBindings, nbind), sizeof(MatmulPush),
                              {gs.wg, rows, gs.split, blocked ? 1u : 0u}, vb.reduction_subgroup());
  };
  // Weight offsets and strides: elements for plain types, bytes for quantised ones.
  const size_t esz = quant ? 1 : dtype_size(w.w.dtype);
  const int64_t row_bytes = std::max<int64_t>(1, int64_t(w.w.row_bytes()));
  const int64_t w_stride = quant ? row_bytes : w.w.row_stride;
  const int64_t slack = int64_t(vb.info().min_storage_offset_alignment) + 4;
  int64_t chunk = std::max<int64_t>(1, (int64_t(vb.info().max_storage_buffer_range) - slack) / row_bytes);
  if (gemv) chunk = std::min<int64_t>(chunk, int64_t(vb.info().max_group_count[0]) * rows);
  else chunk = std::min<int64_t>(chunk, int64_t(vb.info().max_group_count[0]) * kGemmTile);
  // x and out are bound per block of rows, each within maxStorageBufferRange (a prefill's
  // lm_head output is rows × 50280 floats).
  const int64_t row_block = std::min(vb.rows_per_binding(x, 4), vb.rows_per_binding(out, 4));
  for (int64_t r0 = 0; r0 < n; r0 += row_block) {
    const int64_t nr = std::min(row_block, n - r0);
    const Tensor xr = x.slice_rows(r0, nr), outr = out.slice_rows(r0, nr);
    KL_CHECK(gemv || groups(nr, kGemmTile) <= vb.info().max_group_count[1], "matmul: {} rows is too many", nr);
    for (int64_t j0 = 0; j0 < N; j0 += chunk) {
      const int64_t nc = std::min(chunk, N - j0);
      const BoundTensor bx = vb.stream().bind(xr, 4);
      const Weight part = w.slice_rows(j0, nc);
      const BoundTensor bw = vb.stream().bind(part.w, esz);
      const BoundTensor bb = vb.stream().bind(part.bias.empty() ? xr : part.bias, 4);
      const BoundTensor bo = vb.stream().bind(outr.slice_cols(j0, nc), 4);
      const BoundTensor bs = per_row ? vb.stream().bind(part.scale, 4) : BoundTensor{};
      const MatmulPush p{u32(nr, "n"), u32(K, "K"), u32(nc, "N"), bx.elem, u32(x.row_stride, "x stride"),
                         bw.elem, u32(w_stride, "weight stride"), bs.elem, bb.elem,
                         w.bias.empty() ? 0u : 1u, bo.elem, u32(out.row_stride, "out stride")};
      const Binding bind[] = {bx.binding, bw.binding, bb.binding, bo.binding, bs.binding};
      const std::span<const Binding> used(bind, nbind);
      if (gemv) {
        const bool blocked = gs.blocked && gemv_blocks_aligned(w.w.dtype, bw.elem, w_stride);
        vb.stream().dispatch(kernel(blocked), used, &p, groups(nc, rows), uint32_t(nr), 1, name.c_str());
      } else {
        vb.stream().dispatch(kernel(false), used, &p, groups(nc, kGemmTile), groups(nr, kGemmTile), 1,
                             name.c_str());
      }
    }
  }
}

}  // namespace kllens::vk
