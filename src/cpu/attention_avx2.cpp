// attention, AVX2 tier: flash-style online softmax over tiles of kTile keys, so memory
// is O(tile + head dims) per task whatever the sequence length. A task is one query
// (b, t) and one kv head with its nh/nkv query heads, so each K/V row is read once for
// the whole group; tasks over the OpenMP threads (dynamic: causal rows differ in cost).
// Per head, running max m, running sum l and accumulator acc[vhd] in fp32:
//   m' = max(m, max_tile s);  l = l·e^(m−m') + Σ e^(s−m');  acc = acc·e^(m−m') + Σ e^(s−m') V
// and out = acc / l at the end. exp is the vector exp of vec_math_avx2.h (≤ 2 ulp).
#include <algorithm>
#include <cmath>

#include "cpu/attention.h"
#include "cpu/cpu_features.h"
#include "cpu/vec_math_avx2.h"

namespace kllens::cpu {

namespace {

constexpr int64_t kTile = 64;

inline float dot(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = avx2::hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void scale_add(float* acc, float c, const float* v, float p, int64_t n) {
  const __m256 vc = _mm256_set1_ps(c), vp = _mm256_set1_ps(p);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(vp, _mm256_loadu_ps(v + i),
                                              _mm256_mul_ps(vc, _mm256_loadu_ps(acc + i))));
  for (; i < n; ++i) acc[i] = c * acc[i] + p * v[i];
}

// acc += p · v
inline void axpy(float* acc, const float* v, float p, int64_t n) {
  const __m256 vp = _mm256_set1_ps(p);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(vp, _mm256_loadu_ps(v + i), _mm256_loadu_ps(acc + i)));
  for (; i < n; ++i) acc[i] += p * v[i];
}

}  // namespace

void attention_avx2(const AttentionArgs& a) {
  const int64_t T = a.seqlen, nh = a.heads, nkv = a.kv_heads, hd = a.head_dim;
  const int64_t vhd = a.v_head_dim, cap = a.k_cache.shape[1], g = nh / nkv;
  const float* K = a.k_cache.data<float>();
  const float* V = a.v_cache.data<float>();
  const int64_t ks = a.k_cache.row_stride, vs = a.v_cache.row_stride;
  const int64_t tasks = a.batch * T * nkv;
#pragma omp parallel for schedule(dynamic, 4) if (tasks > 1 && tasks * (a.past + T) * hd > (1 << 15))
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t r = task / nkv, kvh = task % nkv, b = r / T, i = a.past + r % T;
    float* mem = scratch_floats(size_t(g * (vhd + kTile + 2)));
    float* acc = mem;                 // [g, vhd]
    float* s = acc + g * vhd;         // [g, kTile] scores of the tile
    float* m = s + g * kTile;         // [g] running max
    float* l = m + g;                 // [g] running sum
    int64_t slot_buf[kTile];          // rows of the tile's keys in the [B·cap, ·] caches
    std::fill_n(acc, g * vhd, 0.0f);
    std::fill_n(m, g, -INFINITY);
    std::fill_n(l, g, 0.0f);
    const KeyRanges kr = key_ranges(a, i);
    // Visible positions in order: [0, lo_end) then [hi_begin, i]; e indexes them.
    const int64_t n_lo = kr.lo_end, n_all = n_lo + (i + 1 - kr.hi_begin);
    for (int64_t e0 = 0; e0 < n_all; e0 += kTile) {
      const int64_t nt = std::min(kTile, n_all - e0);
      for (int64_t e = 0; e < nt; ++e) {
        const int64_t j = e0 + e < n_lo ? e0 + e : kr.hi_begin + (e0 + e - n_lo);
        slot_buf[e] = b * cap + kv_slot(a, cap, j);
      }
      for (int64_t gi = 0; gi < g; ++gi) {
        const float* q = a.q.data<float>() + r * a.q.row_stride + (kvh * g + gi) * hd;
        float* sg = s + gi * kTile;
        float mt = -INFINITY;
        for (int64_t e = 0; e < nt; ++e) {
          sg[e] = dot(q, K + slot_buf[e] * ks + kvh * hd, hd) * a.scale;
          mt = std::max(mt, sg[e]);
        }
        const float mn = std::max(m[gi], mt);
        const float corr = std::exp(m[gi] - mn);  // 0 on the first tile (m = −inf)
        m[gi] = mn;
        int64_t e = 0;
        const __m256 vm = _mm256_set1_ps(mn);
        for (; e + 8 <= nt; e += 8)
          _mm256_storeu_ps(sg + e, avx2::exp8(_mm256_sub_ps(_mm256_loadu_ps(sg + e), vm)));
        for (; e < nt; ++e) sg[e] = std::exp(sg[e] - mn);
        float* ag = acc + gi * vhd;
        float sum = 0.0f;
        for (e = 0; e < nt; ++e) sum += sg[e];
        l[gi] = l[gi] * corr + sum;
        // acc = corr·acc + p_0·V_0, then + p_e·V_e for the rest of the tile.
        scale_add(ag, corr, V + slot_buf[0] * vs + kvh * vhd, sg[0], vhd);
        for (e = 1; e < nt; ++e) axpy(ag, V + slot_buf[e] * vs + kvh * vhd, sg[e], vhd);
      }
    }
    for (int64_t gi = 0; gi < g; ++gi) {
      float* o = a.out.data<float>() + r * a.out.row_stride + (kvh * g + gi) * vhd;
      const float inv = 1.0f / l[gi];
      for (int64_t c = 0; c < vhd; ++c) o[c] = acc[gi * vhd + c] * inv;
    }
  }
}

}  // namespace kllens::cpu
