// Rooflines for the memory-bound kernels (GEMV at decode), measured in the same run:
// - BM_MemoryReadBandwidth: STREAM-like host read bandwidth. Sums a 512 MiB F32 array (far
//   beyond the caches) with AVX2 loads on every OpenMP thread, four independent
//   accumulators each, static split.
// - read_probe/kllens vs read_sum/plain_c (issue 10, item 7): kllens's own probe
//   (measure_read_bandwidth, which kllens bench reports as the roofline) against a plain C
//   read-sum with 16 independent float accumulators per thread, 2 threads, 1 GiB, best of
//   5: the probe must be at least as fast, or the roofline percentages overstate.
// - copy/<backend>/bandwidth_64MiB: the production copy op (Backend::copy) on a 64 MiB F32
//   tensor (lavapipe's maxStorageBufferRange is 128 MiB), counted as 128 MiB moved (read +
//   write): what a plain streaming kernel reaches on each backend (on a discrete GPU, its
//   device memory bandwidth; 64 MiB is beyond any GPU's last-level cache).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "bench_backends.h"
#include "cpu/cpu_features.h"
#include "kllens/bandwidth.h"

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

// 16 scalar float chains per thread (no intrinsics): a plain C read-sum.
float plain_sum(const float* p, size_t n) {
  float s[16] = {};
  for (size_t i = 0; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) s[k] += p[i + k];
  float t = 0;
  for (float v : s) t += v;
  return t;
}

void BM_PlainReadSum(benchmark::State& state) {
  const size_t bytes = size_t(1) << 30, n = bytes / sizeof(float);
  auto* data = static_cast<float*>(std::aligned_alloc(4096, bytes));
#pragma omp parallel for schedule(static) num_threads(2)
  for (size_t i = 0; i < n; ++i) data[i] = 1.0f;
  double best = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      float total = 0;
#pragma omp parallel num_threads(2) reduction(+ : total)
      {
        const size_t t = size_t(omp_get_thread_num()), nt = size_t(omp_get_num_threads());
        const size_t chunk = n / nt / 16 * 16;
        total += plain_sum(data + t * chunk, t + 1 == nt ? n - t * chunk : chunk);
      }
      benchmark::DoNotOptimize(total);
      best = std::max(best, double(bytes) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e9);
    }
  }
  state.counters["GB/s"] = best;
  std::free(data);
}
BENCHMARK(BM_PlainReadSum)->Name("read_sum/plain_c")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1)->Repetitions(3);

void BM_ReadProbe(benchmark::State& state) {
  double gbs = 0;
  for (auto _ : state) gbs = kllens::measure_read_bandwidth(size_t(1) << 30, 5);
  state.counters["GB/s"] = gbs;
}
BENCHMARK(BM_ReadProbe)->Name("read_probe/kllens")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1)->Repetitions(3);

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
