// Comparisons that explain themselves: NMSE, max-abs and max-rel, non-finite values
// flagged, and the first mismatches printed with their multi-dimensional index.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kllens/tensor.h"

namespace kllens::test {

struct Comparison {
  double nmse = 0;           // Σ(a−b)² / Σa², a = reference
  double max_abs = 0;
  double max_rel = 0;
  int64_t nonfinite = 0;     // positions where exactly one side is non-finite, or they differ
  std::string worst;         // the first few worst positions, "[i,j] ref=… got=…"
};

Comparison compare(const float* ref, const float* got, const Shape& shape);

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
