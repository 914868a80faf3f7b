// The machine's memory-read bandwidth: the roofline that decode (which streams every
// weight once per token) is measured against, in the same run as the measurement.
#pragma once

#include <cstddef>

namespace kllens {

// Reads a `bytes`-sized buffer with all OpenMP threads, best of `reps` passes, in GB/s
// (1e9 bytes per second). The buffer is much larger than the caches. A ceiling: at least
// as fast as a plain multi-accumulator read-sum (bench/bench_memory_bandwidth.cpp times
// both in one run).
double measure_read_bandwidth(size_t bytes = size_t(1) << 30, int reps = 5);

}  // namespace kllens
