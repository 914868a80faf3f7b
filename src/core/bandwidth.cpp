// Memory-read bandwidth: every OpenMP thread sums its own contiguous part of a large
// array of 64-bit words with eight independent accumulators.
//
// Integer adds (1-cycle latency, no vector width needed) keep the loop far below the
// memory's rate, so the loads are the only limit; each thread reads one sequential
// stream (the hardware prefetchers' best case) of pages it touched first. The timed
// region is one parallel region per pass; best of `reps` passes.
#include "kllens/bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

namespace kllens {

namespace {

struct FreeDeleter {
  void operator()(uint64_t* p) const { std::free(p); }
};

// Thread t's part [begin, end) of n words, in whole 64-byte lines.
void part(size_t n, int t, int nt, size_t* begin, size_t* end) {
  const size_t lines = n / 8, per = lines / size_t(nt), extra = lines % size_t(nt);
  *begin = (size_t(t) * per + std::min(size_t(t), extra)) * 8;
  *end = *begin + (per + (size_t(t) < extra ? 1 : 0)) * 8;
}

uint64_t read_sum(const uint64_t* p, size_t begin, size_t end) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  for (size_t i = begin; i < end; i += 8) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
    s4 += p[i + 4];
    s5 += p[i + 5];
    s6 += p[i + 6];
    s7 += p[i + 7];
  }
  return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

}  // namespace

double measure_read_bandwidth(size_t bytes, int reps) {
  const size_t n = bytes / 64 * 8;  // whole lines
  std::unique_ptr<uint64_t, FreeDeleter> buf(static_cast<uint64_t*>(std::aligned_alloc(4096, (n * 8 + 4095) / 4096 * 4096)));
  if (!buf) throw std::bad_alloc();
  uint64_t* a = buf.get();
#pragma omp parallel
  {  // first touch by the thread that reads each part
    size_t b, e;
    part(n, omp_get_thread_num(), omp_get_num_threads(), &b, &e);
    for (size_t i = b; i < e; ++i) a[i] = i;
  }
  double best = 0;
  std::vector<uint64_t> sums(size_t(omp_get_max_threads()) * 8);  // one cache line each
  volatile uint64_t sink = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      size_t b, e;
      const int t = omp_get_thread_num();
      part(n, t, omp_get_num_threads(), &b, &e);
      sums[size_t(t) * 8] = read_sum(a, b, e);
    }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t t = 0; t < sums.size(); t += 8) sink = sink + sums[t];
    best = std::max(best, double(n * 8) / sec / 1e9);
  }
  return best;
}

}  // namespace kllens
