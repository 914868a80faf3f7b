// Memory-read bandwidth: a STREAM-style sum over a large array with every OpenMP thread.
#include "kllens/bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace kllens {

double measure_read_bandwidth(size_t bytes, int reps) {
  const size_t n = bytes / sizeof(float);
  std::unique_ptr<float[]> a(new float[n]);
  // First touch by the threads that will read each part.
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = float(i & 1023);
  double best = 0;
  volatile float sink = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    float total = 0;
    // Eight independent partial sums per thread let the compiler keep several vector
    // loads in flight; the work per byte is trivial, so this measures memory, not ALU.
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (size_t b = 0; b < n / 64; ++b) {
      float s[8] = {};
      const float* p = a.get() + b * 64;
      for (int i = 0; i < 64; i += 8)
        for (int k = 0; k < 8; ++k) s[k] += p[i + k];
      total += s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sink = sink + total;
    best = std::max(best, double(n / 64 * 64 * sizeof(float)) / sec / 1e9);
  }
  return best;
}

}  // namespace kllens
