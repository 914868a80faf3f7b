// Rooflines for the memory-bound kernels (GEMV at decode), measured in the same run:
// - BM_MemoryReadBandwidth: STREAM-like host read bandwidth. Sums a 512 MiB F32 array (far
//   beyond the caches) with AVX2 loads on every OpenMP thread, four independent
//   accumulators each, static split.
// - copy/<backend>/bandwidth_64MiB: the production copy op (Backend::copy) on a 64 MiB F32
//   tensor (lavapipe's maxStorageBufferRange is 128 MiB), counted as 128 MiB moved (read +
//   write): what a plain streaming kernel reaches on each backend (on a discrete GPU, its
//   device memory bandwidth; 64 MiB is beyond any GPU's last-level cache).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "bench_backends.h"
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

void copy_bandwidth(benchmark::State& state, kllens::Backend* be) {
  const int64_t rows = 1 << 12, cols = 1 << 12;  // 16 Mi floats = 64 MiB
  const kllens::Tensor src = be->alloc(kllens::DType::F32, {rows, cols});
  const kllens::Tensor dst = be->alloc(kllens::DType::F32, {rows, cols});
  be->fill_zero(src);
  be->copy(src, dst);  // warm-up, first touch
  be->sync();
  for (auto _ : state) {
    be->copy(src, dst);
    be->sync();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * 2 * int64_t(src.span_bytes()));
}

const bool kCopyRegistered = [] {
  for (const kllens::bench::NamedBackend& b : kllens::bench::backends())
    benchmark::RegisterBenchmark(("copy/" + b.name + "/bandwidth_64MiB").c_str(), copy_bandwidth, b.backend)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(0.2);
  return true;
}();

}  // namespace
