// Test comparisons and paths.
#include "support/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace kllens::test {

Comparison compare(const float* ref, const float* got, const Shape& shape, double nmse_max) {
  const size_t n = size_t(shape_numel(shape));
  return check::compare(std::vector<double>(ref, ref + n), std::vector<double>(got, got + n), shape,
                        nmse_max, false);
}

::testing::AssertionResult close(const std::vector<float>& ref, const std::vector<float>& got,
                                 const Shape& shape, double nmse_max, double abs_max) {
  if (ref.size() != got.size() || int64_t(ref.size()) != shape_numel(shape))
    return ::testing::AssertionFailure()
           << "size mismatch: ref " << ref.size() << " got " << got.size() << " shape "
           << shape_str(shape);
  const Comparison c = compare(ref.data(), got.data(), shape, nmse_max);
  // The NMSE bound on the whole tensor (and max-abs if given); elements over their share
  // of the budget are reported, not failed on their own (a bound of 0 makes every
  // difference one).
  const bool ok = c.nonfinite == 0 && c.nmse <= nmse_max && (abs_max <= 0 || c.max_abs <= abs_max);
  auto r = ok ? ::testing::AssertionSuccess() : ::testing::AssertionFailure();
  r << fmt::format("shape {} nmse={:.3e} (max {:.1e}) max_abs={:.3e}{} max_rel={:.3e} "
                   "nonfinite_mismatch={} over_bound={}{}\nworst:\n{}",
                   shape_str(shape), c.nmse, nmse_max, c.max_abs,
                   abs_max > 0 ? fmt::format(" (max {:.1e})", abs_max) : "", c.max_rel,
                   c.nonfinite, c.over, c.over ? " first at " + c.first_over_at : "", c.worst);
  return r;
}

::testing::AssertionResult close_reported(const std::string& what, const std::vector<float>& ref,
                                          const std::vector<float>& got, const Shape& shape,
                                          double nmse_max, double abs_max) {
  if (ref.size() == got.size() && int64_t(ref.size()) == shape_numel(shape)) {
    const Comparison c = compare(ref.data(), got.data(), shape);
    std::printf("    %-40s nmse %.2e (max %.0e)  max_abs %.2e\n", what.c_str(), c.nmse, nmse_max,
                c.max_abs);
  }
  return close(ref, got, shape, nmse_max, abs_max);
}

std::string source_path(const std::string& rel) { return std::string(KLLENS_SOURCE_DIR) + "/" + rel; }
std::string shared_path(const std::string& rel) { return std::string(KLLENS_SHARED_DIR) + "/" + rel; }

}  // namespace kllens::test
