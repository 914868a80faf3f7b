// embed: out[r, :] = table[ids[r], :]. table [V, H] in any weight type: F32/F16/BF16
// converted exactly, Q8_C/Q4_C (with per-row scales) and Q8_0/Q4_0 dequantised as
// weight.glsl defines (a tied embedding shares the head's quantised weight). ids I32 [n],
// out F32 [n, H] (strided rows allowed). A table larger than maxStorageBufferRange
// (mamba-130m's F32 embedding is 154 MB) is bound in row chunks.
#include "core/op_args.h"
#include "shaders/embed.h"
#include "vulkan/vulkan_backend.h"

namespace kllens::vk {

using shader::EmbedPush;

namespace {
// The bindings of shaders/embed.comp as this launcher uses them (checked against the
// SPIR-V when the pipeline is made).
constexpr BindingUse kBindings[] = {{EMBED_BINDING_TABLE, Access::read},
                                    {EMBED_BINDING_IDS, Access::read},
                                    {EMBED_BINDING_OUT, Access::write},
                                    {EMBED_BINDING_SCALE, Access::read}};
const char* variant(DType t) {
  switch (t) {
    case DType::F32: return "embed_f32";
    case DType::F16: return "embed_f16";
    case DType::BF16: return "embed_bf16";
    case DType::Q8_C: return "embed_q8_c";
    case DType::Q4_C: return "embed_q4_c";
    case DType::Q8_0: return "embed_q8_0";
    case DType::Q4_0: return "embed_q4_0";
    default: fail("embed: {} tables are not supported on Vulkan", dtype_name(t));
  }
}
}  // namespace

void embed(VulkanBackend& vb, const Weight& w, const Tensor& ids, const Tensor& out) {
  validate(EmbedArgs{w, ids, out});
  const Tensor& table = w.w;
  const char* name = variant(table.dtype);
  const bool quant = dtype_is_quantized(table.dtype);
  const bool per_row = table.dtype == DType::Q8_C || table.dtype == DType::Q4_C;
  KL_CHECK((table.dtype != DType::F16 && table.dtype != DType::BF16) || vb.info().storage16,
           "embed: {} needs 16-bit storage", dtype_name(table.dtype));
  const int64_t V = table.rows(), H = table.cols(), n = ids.numel();
  if (n == 0 || H == 0) return;

  const uint32_t wg = vb.elementwise_wg();
  const uint32_t nbind = per_row ? 4 : 3;  // + the scales of Q8_C / Q4_C
  const Kernel& k = vb.pipelines().get(name, std::span(kBindings, nbind), sizeof(EmbedPush), {wg});
  // Table offsets and strides: elements for plain types, bytes for quantised ones.
  const size_t esz = quant ? 1 : dtype_size(table.dtype);
  const int64_t row_bytes = std::max<int64_t>(1, int64_t(table.row_bytes()));
  const int64_t stride = quant ? row_bytes : table.row_stride;
  const int64_t slack = int64_t(vb.info().min_storage_offset_alignment) + 4;
  const int64_t chunk_rows = std::max<int64_t>(1, (int64_t(vb.info().max_storage_buffer_range) - slack) / row_bytes);
  const int64_t max_rows = vb.info().max_group_count[1];
  const Tensor ids2 = ids.reshape({n});
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t nr = std::min(max_rows, n - r0);
    const Tensor ov = out.slice_rows(r0, nr);
    for (int64_t v0 = 0; v0 < V; v0 += chunk_rows) {
      const int64_t vc = std::min(chunk_rows, V - v0);
      const Weight part = w.slice_rows(v0, vc);
      const BoundTensor bt = vb.stream().bind(part.w, esz);
      const Tensor idv = ids2.slice_elems(r0, nr);
      const BoundTensor bi = vb.stream().bind(idv, 4);
      const BoundTensor bo = vb.stream().bind(ov, 4);
      const BoundTensor bs = per_row ? vb.stream().bind(part.scale, 4) : BoundTensor{};
      const EmbedPush p{u32(nr, "n"), u32(H, "H"), u32(V, "V"), u32(v0, "v0"), u32(vc, "vc"),
                        bt.elem, u32(stride, "table stride"), bi.elem, bo.elem,
                        u32(out.row_stride, "out stride"), bs.elem};
      const Binding bind[] = {bt.binding, bi.binding, bo.binding, bs.binding};
      vb.stream().dispatch(k, std::span<const Binding>(bind, nbind), &p, groups(H, wg), uint32_t(nr), 1, name);
    }
  }
}

}  // namespace kllens::vk
