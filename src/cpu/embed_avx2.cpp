// embed, AVX2 tier: F16C / shift widening of whole rows, rows in parallel. Ids are
// checked by the dispatcher before this runs.
#include <cstring>

#include "cpu/embed.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

void embed_avx2(const Tensor& table, const Tensor& ids, const Tensor& out) {
  const int64_t n = ids.numel(), H = table.cols();
  const auto* tab = table.data<uint8_t>();
  const size_t row_bytes = table.row_bytes();
  const DType type = table.dtype;
  const int32_t* id = ids.data<int32_t>();
  float* o = out.data<float>();
  const int64_t ostride = out.row_stride;
#pragma omp parallel for schedule(static) if (n * H > (1 << 16))
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* src = tab + size_t(id[r]) * row_bytes;
    float* dst = o + r * ostride;
    if (type == DType::F32) {
      std::memcpy(dst, src, size_t(H) * 4);
      continue;
    }
    const auto* h = reinterpret_cast<const uint16_t*>(src);
    int64_t k = 0;
    if (type == DType::F16) {
      for (; k + 8 <= H; k += 8) _mm256_storeu_ps(dst + k, avx2::load8_f16(h + k));
      for (; k < H; ++k) dst[k] = _cvtsh_ss(h[k]);
    } else {  // BF16
      for (; k + 8 <= H; k += 8) _mm256_storeu_ps(dst + k, avx2::load8_bf16(h + k));
      for (; k < H; ++k) {
        const uint32_t u = uint32_t(h[k]) << 16;
        std::memcpy(dst + k, &u, 4);
      }
    }
  }
}

}  // namespace kllens::cpu
