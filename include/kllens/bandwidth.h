// The machine's memory-read bandwidth: the roofline that decode (which streams every
// weight once per token) is measured against, in the same run as the measurement.
#pragma once

#include <cstddef>

namespace kllens {

// Reads a `bytes`-sized buffer with all OpenMP threads, best of `reps` passes, in GB/s
// (1e9 bytes per second). The buffer is much larger than the caches.
double measure_read_bandwidth(size_t bytes = size_t(512) << 20, int reps = 5);

}  // namespace kllens
