// STREAM-like read bandwidth: the roofline that memory-bound kernels (GEMV at decode)
// are measured against. Sums a 512 MiB F32 array (far beyond the caches) with AVX2
// loads on every OpenMP thread, four independent accumulators each, static split.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "cpu/cpu_features.h"

namespace {

constexpr size_t kBytes = size_t(512) << 20;

__attribute__((target("avx2"))) float sum_avx2(const float* p, size_t n) {
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    a = _mm256_add_ps(a, _mm256_load_ps(p + i));
    b = _mm256_add_ps(b, _mm256_load_ps(p + i + 8));
    c = _mm256_add_ps(c, _mm256_load_ps(p + i + 16));
    d = _mm256_add_ps(d, _mm256_load_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  float s = 0;
  for (float f : lanes) s += f;
  return s;
}

void BM_MemoryReadBandwidth(benchmark::State& state) {
  if (!kllens::cpu::cpu_has_avx2()) {
    state.SkipWithError("no AVX2");
    return;
  }
  const size_t n = kBytes / sizeof(float);
  auto* data = static_cast<float*>(std::aligned_alloc(4096, kBytes));
  // First touch from the threads that will read (page placement), then time.
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) data[i] = 1.0f;
  for (auto _ : state) {
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      const size_t t = size_t(omp_get_thread_num()), nt = size_t(omp_get_num_threads());
      const size_t chunk = n / nt / 32 * 32;
      total += sum_avx2(data + t * chunk, t + 1 == nt ? n - t * chunk : chunk);
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kBytes));
  state.counters["threads"] = omp_get_max_threads();
  std::free(data);
}
BENCHMARK(BM_MemoryReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
