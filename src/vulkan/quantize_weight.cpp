// quantize_weight on the device: a linear weight [N, K] (F32 / F16 / BF16, contiguous
// or strided rows) quantised to Q8_C / Q4_C / Q8_0 / Q4_0 with symmetric abs-max scales,
// producing exactly the bytes (and Q8_C/Q4_C scales) of the host quantiser in src/quant
// (exact division and f16 rounding in shaders/quantize_weight.comp). Two dispatches:
// scales (one workgroup per row), then packing (one thread per output word). The bias is
// shared with the source weight.
#include "shaders/quantize_weight.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::QuantizeWeightPush;

namespace {
// The bindings of shaders/quantize_weight.comp as each kernel uses them: the first
// writes the scales, the second reads them.
constexpr BindingUse kScaleBindings[] = {{QUANTIZE_WEIGHT_BINDING_SRC, Access::read},
                                         {QUANTIZE_WEIGHT_BINDING_SCALE, Access::write}};
constexpr BindingUse kPackBindings[] = {{QUANTIZE_WEIGHT_BINDING_SRC, Access::read},
                                        {QUANTIZE_WEIGHT_BINDING_SCALE, Access::read},
                                        {QUANTIZE_WEIGHT_BINDING_OUT, Access::write}};
}  // namespace

Weight quantize_weight(VulkanBackend& vb, const Weight& src, DType type) {
  const Tensor& W = src.w;
  KL_CHECK(W.shape.size() == 2, "quantize_weight: weight must be [N, K], got {}", shape_str(W.shape));
  uint32_t src_type = 0;
  switch (W.dtype) {
    case DType::F32: src_type = KL_WTYPE_F32; break;
    case DType::F16: src_type = KL_WTYPE_F16; break;
    case DType::BF16: src_type = KL_WTYPE_BF16; break;
    default: fail("quantize_weight: source weight is {} (expected F32, F16 or BF16)", dtype_name(W.dtype));
  }
  uint32_t code = 0;
  switch (type) {
    case DType::Q8_C: code = KL_WTYPE_Q8_C; break;
    case DType::Q4_C: code = KL_WTYPE_Q4_C; break;
    case DType::Q8_0: code = KL_WTYPE_Q8_0; break;
    case DType::Q4_0: code = KL_WTYPE_Q4_0; break;
    default: fail("quantize_weight: {} is not a quantised weight type", dtype_name(type));
  }
  const int64_t N = W.shape[0], K = W.shape[1];
  check_view(W, "quantize_weight: weight", W.dtype, N, K);
  const bool channel = type == DType::Q8_C || type == DType::Q4_C;
  const int64_t ng = channel ? 1 : (K + 31) / 32;
  const uint32_t qmax = (type == DType::Q8_C || type == DType::Q8_0) ? 127 : 7;

  Weight out;
  out.w = vb.alloc(type, {N, K});
  out.bias = src.bias;
  const Tensor sc = channel ? (out.scale = vb.alloc(DType::F32, {N})) : vb.alloc(DType::F32, {std::max<int64_t>(1, N * ng)});
  if (N == 0 || K == 0) return out;

  const int64_t row_bytes = int64_t(out.w.row_bytes()), words = (N * row_bytes + 3) / 4;
  const uint32_t wg = vb.reduction_wg();
  const int64_t ngroups = (words + wg - 1) / wg;
  const int64_t gx = std::min<int64_t>(ngroups, vb.info().max_group_count[0]), gy = (ngroups + gx - 1) / gx;
  KL_CHECK(N <= vb.info().max_group_count[0] && gy <= vb.info().max_group_count[1],
           "quantize_weight: [{}, {}] too large", N, K);
  Stream& s = vb.stream();
  const BoundTensor bw = s.bind(W, dtype_size(W.dtype)), bs = s.bind(sc, 4),
                    bo = s.bind(out.w, 4);
  const QuantizeWeightPush p{u32(N, "N"), u32(K, "K"), qmax, channel ? 0u : 32u, u32(ng, "groups"), code, src_type,
                             bw.elem, u32(W.row_stride, "weight stride"), bs.elem, bo.elem,
                             u32(row_bytes, "row bytes"), u32(words, "words"), u32(gx * wg, "words per row")};
  const Binding bind[] = {bw.binding, bs.binding, bo.binding};
  const Kernel& k0 = vb.pipelines().get("quantize_weight_scale", kScaleBindings, sizeof(QuantizeWeightPush), {wg});
  s.dispatch(k0, std::span<const Binding>(bind, 2), &p, uint32_t(N), 1, 1, "quantize_weight_scale");
  const Kernel& k1 = vb.pipelines().get("quantize_weight_pack", kPackBindings, sizeof(QuantizeWeightPush), {wg});
  s.dispatch(k1, bind, &p, uint32_t(gx), uint32_t(gy), 1, "quantize_weight_pack");
  return out;
}

}  // namespace kllens::vk
