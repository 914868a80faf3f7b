// matmul: out[r, j] = Σ_k x[r, k] · W[j, k] (+ bias[j])
// x F32 [n, K] (strided rows), W [N, K] F32/F16/BF16 converted exactly to F32 in the
// kernel, bias F32 [N] or none, out F32 [n, N] (strided rows). fp32 accumulation.
// GEMV (shaders/matmul_gemv.comp) for n ≤ kGemvMaxRows, tiled GEMM otherwise. Weights
// larger than maxStorageBufferRange (a 50280×768 F32 lm_head) run in row chunks, each
// writing its own column range of out.
#include "shaders/matmul.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::MatmulPush;

namespace {
constexpr int64_t kGemvMaxRows = 4;
constexpr uint32_t kGemvRows = 4;     // output features per GEMV workgroup
constexpr uint32_t kGemmTile = 32;    // BM = BN of matmul_gemm.comp

const char* variant(DType t, bool gemv) {
  switch (t) {
    case DType::F32: return gemv ? "matmul_gemv_f32" : "matmul_gemm_f32";
    case DType::F16: return gemv ? "matmul_gemv_f16" : "matmul_gemm_f16";
    case DType::BF16: return gemv ? "matmul_gemv_bf16" : "matmul_gemm_bf16";
    default: fail("matmul: {} weights are not supported on Vulkan yet", dtype_name(t));
  }
}
}  // namespace

void matmul(VulkanBackend& vb, const Tensor& x, const Weight& w, const Tensor& out) {
  const int64_t n = x.rows(), K = x.cols(), N = w.out_features();
  check_view(x, "matmul: x", DType::F32, n, K);
  check_view(w.w, "matmul: weight", w.w.dtype, N, K);
  KL_CHECK(w.w.contiguous(), "matmul: weight rows must be contiguous");
  if (!w.bias.empty()) check_view(w.bias, "matmul: bias", DType::F32, 1, N);
  check_view(out, "matmul: out", DType::F32, n, N);
  const bool gemv = n <= kGemvMaxRows;
  const char* name = variant(w.w.dtype, gemv);
  KL_CHECK(w.w.dtype == DType::F32 || vb.info().storage16, "matmul: {} needs 16-bit storage",
           dtype_name(w.w.dtype));
  if (n == 0 || N == 0) return;

  const uint32_t wg = vb.elementwise_wg();
  const Kernel& k = gemv ? vb.pipelines().get(name, 4, sizeof(MatmulPush), {wg, kGemvRows})
                         : vb.pipelines().get(name, 4, sizeof(MatmulPush), {});
  const size_t esz = dtype_size(w.w.dtype);
  const int64_t row_bytes = std::max<int64_t>(1, K) * int64_t(esz);
  const int64_t slack = int64_t(vb.info().min_storage_offset_alignment) + 4;
  int64_t chunk = std::max<int64_t>(1, (int64_t(vb.info().max_storage_buffer_range) - slack) / row_bytes);
  if (gemv) chunk = std::min<int64_t>(chunk, int64_t(vb.info().max_group_count[0]) * kGemvRows);
  else chunk = std::min<int64_t>(chunk, int64_t(vb.info().max_group_count[0]) * kGemmTile);
  KL_CHECK(gemv || groups(n, kGemmTile) <= vb.info().max_group_count[1], "matmul: {} rows is too many", n);

  for (int64_t j0 = 0; j0 < N; j0 += chunk) {
    const int64_t nc = std::min(chunk, N - j0);
    const BoundTensor bx = vb.stream().bind(x, 4, false);
    const BoundTensor bw = vb.stream().bind(w.w.slice_rows(j0, nc), esz, false);
    Tensor bias = w.bias.empty() ? x : w.bias;
    if (!w.bias.empty()) {
      bias.offset += size_t(j0) * 4;
      bias.shape = {nc};
      bias.row_stride = nc;
    }
    const BoundTensor bb = vb.stream().bind(bias, 4, false);
    const BoundTensor bo = vb.stream().bind(out.slice_cols(j0, nc), 4, true);
    const MatmulPush p{u32(n, "n"), u32(K, "K"), u32(nc, "N"), bx.elem, u32(x.row_stride, "x stride"),
                       bw.elem, u32(w.w.row_stride, "weight stride"), bb.elem,
                       w.bias.empty() ? 0u : 1u, bo.elem, u32(out.row_stride, "out stride")};
    const Binding bind[] = {bx.binding, bw.binding, bb.binding, bo.binding};
    if (gemv)
      vb.stream().dispatch(k, bind, &p, groups(nc, kGemvRows), uint32_t(n), 1, name);
    else
      vb.stream().dispatch(k, bind, &p, groups(nc, kGemmTile), groups(n, kGemmTile), 1, name);
  }
}

}  // namespace kllens::vk
