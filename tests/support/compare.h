// Comparisons that explain themselves: NMSE, max-abs and max-rel, non-finite values
// flagged, the first element over the bound and the worst ones printed with their
// multi-dimensional index. The arithmetic is check::compare, the one comparison of every
// kernel test and of `kllens check-kernels`.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kllens/check.h"
#include "kllens/tensor.h"

namespace kllens::test {

using check::Comparison;

// check::compare of two F32 arrays of `shape`; elements over `nmse_max` as it defines them.
Comparison compare(const float* ref, const float* got, const Shape& shape, double nmse_max = 0);

// gtest assertion: NMSE ≤ nmse_max, max |a−b| ≤ abs_max (if abs_max > 0), no
// non-finite mismatch. The failure message carries the whole Comparison.
::testing::AssertionResult close(const std::vector<float>& ref, const std::vector<float>& got,
                                 const Shape& shape, double nmse_max, double abs_max = 0);
// The same, and prints "what: nmse … max_abs …" to stdout for the record (the golden
// suites log how far inside its bound every comparison lands).
::testing::AssertionResult close_reported(const std::string& what, const std::vector<float>& ref,
                                          const std::vector<float>& got, const Shape& shape,
                                          double nmse_max, double abs_max = 0);

// Paths of the source tree and of ../shared.
std::string source_path(const std::string& rel);
std::string shared_path(const std::string& rel);

}  // namespace kllens::test
