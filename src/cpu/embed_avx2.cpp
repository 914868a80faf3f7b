// embed, AVX2 tier: F16C / shift widening of whole rows, integer codes widened to fp32 and
// multiplied by their scale (one rounding, as in dequant_row), rows in parallel. A row's
// tail that fills no whole vector (or 32-block) goes through dequant_row itself. Ids are
// checked by the dispatcher before this runs.
#include <cstring>

#include "cpu/dequant.h"
#include "cpu/embed.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {

// 8 int8 codes at p, times s.
inline __m256 q8x8(const uint8_t* p, __m256 s) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(v))));
}

// 16 bytes of nibbles -> lo (low nibbles) and hi (high nibbles), each 16 uint8.
inline void split_nibbles(__m128i b, __m128i& lo, __m128i& hi) {
  const __m128i m = _mm_set1_epi8(0xf);
  lo = _mm_and_si128(b, m);
  hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
}

// One quantised row of H elements: whole vectors (32-blocks) here, the rest by dequant_row.
void row_quant(DType type, const uint8_t* src, int64_t H, float scale, float* dst) {
  int64_t k = 0;
  switch (type) {
    case DType::Q8_C: {
      const __m256 s = _mm256_set1_ps(scale);
      for (; k + 8 <= H; k += 8) _mm256_storeu_ps(dst + k, q8x8(src + k, s));
      dequant_row(type, src + k, H - k, scale, dst + k);
      return;
    }
    case DType::Q4_C: {  // two's-complement nibbles, low nibble first
      const __m256 s = _mm256_set1_ps(scale);
      const __m128i eight = _mm_set1_epi8(8);
      for (; k + 16 <= H; k += 16) {
        int64_t v;
        std::memcpy(&v, src + k / 2, 8);
        __m128i lo, hi;
        split_nibbles(_mm_cvtsi64_si128(v), lo, hi);
        __m128i e = _mm_unpacklo_epi8(lo, hi);                 // elements k..k+15 in order
        e = _mm_sub_epi8(_mm_xor_si128(e, eight), eight);      // sign-extend the nibble
        _mm256_storeu_ps(dst + k, _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(e))));
        _mm256_storeu_ps(dst + k + 8, _mm256_mul_ps(s, _mm256_cvtepi32_ps(
                                                          _mm256_cvtepi8_epi32(_mm_srli_si128(e, 8)))));
      }
      dequant_row(type, src + k / 2, H - k, scale, dst + k);
      return;
    }
    case DType::Q8_0: {  // blocks {f16 d; int8 qs[32]}
      for (; k + 32 <= H; k += 32) {
        const uint8_t* blk = src + (k / 32) * 34;
        uint16_t d;
        std::memcpy(&d, blk, 2);
        const __m256 s = _mm256_set1_ps(f16_to_f32(d));
        for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(dst + k + j, q8x8(blk + 2 + j, s));
      }
      dequant_row(type, src + (k / 32) * 34, H - k, 1.0f, dst + k);
      return;
    }
    case DType::Q4_0: {  // blocks {f16 d; uint8 qs[16]}: low nibbles 0..15, high 16..31
      for (; k + 32 <= H; k += 32) {
        const uint8_t* blk = src + (k / 32) * 18;
        uint16_t d;
        std::memcpy(&d, blk, 2);
        const __m256 s = _mm256_set1_ps(f16_to_f32(d));
        __m128i lo, hi;
        split_nibbles(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)), lo, hi);
        const __m128i eight = _mm_set1_epi8(8);
        lo = _mm_sub_epi8(lo, eight);
        hi = _mm_sub_epi8(hi, eight);
        const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int j = 0; j < 4; ++j)
          _mm256_storeu_ps(dst + k + 8 * j,
                           _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[j]))));
      }
      dequant_row(type, src + (k / 32) * 18, H - k, 1.0f, dst + k);
      return;
    }
    default:
      return;
  }
}

}  // namespace

void embed_avx2(const Weight& table, const Tensor& ids, const Tensor& out) {
  const int64_t n = ids.numel(), H = table.in_features();
  const auto* tab = table.w.data<uint8_t>();
  const size_t row_bytes = table.w.row_bytes();
  const DType type = table.w.dtype;
  const float* scale = table.scale.empty() ? nullptr : table.scale.data<float>();  // [V]
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
    if (dtype_is_quantized(type)) {
      row_quant(type, src, H, scale ? scale[id[r]] : 1.0f, dst);
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
