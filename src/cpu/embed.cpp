// embed, reference tier and dispatcher.
//   out[r, :] = dequant_row(table row ids[r])
// table [V, H] in any weight type (per-row scales for Q8_C / Q4_C), ids I32 [n], out F32
// [n, H] (rows may be strided).
#include "cpu/embed.h"

#include "cpu/cpu_features.h"
#include "cpu/dequant.h"
#include "kllens/error.h"

namespace kllens::cpu {

namespace {
void check_ids(const Weight& table, const Tensor& ids) {
  const int64_t V = table.out_features();
  const int32_t* id = ids.data<int32_t>();
  for (int64_t r = 0; r < ids.numel(); ++r)
    if (id[r] < 0 || id[r] >= V) fail("embed: token id {} at position {} is outside [0, {})", id[r], r, V);
}
}  // namespace

void embed_ref(const Weight& table, const Tensor& ids, const Tensor& out) {
  check_ids(table, ids);
  const int64_t n = ids.numel(), H = table.in_features();
  const auto* tab = table.w.data<uint8_t>();
  const float* scale = table.scale.empty() ? nullptr : table.scale.data<float>();  // [V]
  const int32_t* id = ids.data<int32_t>();  // [n]
  float* o = out.data<float>();             // [n, H], row stride out.row_stride
  for (int64_t r = 0; r < n; ++r)
    dequant_row(table.w.dtype, tab + size_t(id[r]) * table.w.row_bytes(), H,
                scale ? scale[id[r]] : 1.0f, o + r * out.row_stride);
}

void embed(CpuTier tier, const Weight& table, const Tensor& ids, const Tensor& out) {
  if (!runs_avx2(tier)) return embed_ref(table, ids, out);
  check_ids(table, ids);
  embed_avx2(table, ids, out);
}

}  // namespace kllens::cpu
