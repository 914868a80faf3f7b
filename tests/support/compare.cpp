// Test comparisons and paths.
#include "support/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace kllens::test {

namespace {

std::string index_str(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? "," : "") + std::to_string(idx[d]);
  return s + "]";
}

}  // namespace

Comparison compare(const float* ref, const float* got, const Shape& shape) {
  Comparison c;
  const int64_t n = shape_numel(shape);
  double num = 0, den = 0;
  std::vector<std::pair<double, int64_t>> errs;
  for (int64_t i = 0; i < n; ++i) {
    const double a = ref[i], b = got[i];
    if (!std::isfinite(a) || !std::isfinite(b)) {
      if (!(std::isnan(a) && std::isnan(b)) && a != b) {
        ++c.nonfinite;
        errs.push_back({INFINITY, i});
      }
      continue;
    }
    const double d = std::abs(a - b);
    num += d * d;
    den += a * a;
    c.max_abs = std::max(c.max_abs, d);
    c.max_rel = std::max(c.max_rel, d / std::max(std::abs(a), 1e-30));
    errs.push_back({d, i});
  }
  c.nmse = den > 0 ? num / den : num;
  const size_t k = std::min<size_t>(5, errs.size());
  std::partial_sort(errs.begin(), errs.begin() + k, errs.end(),
                    [](auto& x, auto& y) { return x.first > y.first; });
  for (size_t i = 0; i < k; ++i) {
    const int64_t j = errs[i].second;
    c.worst += fmt::format("  {} ref={:.7g} got={:.7g}\n", index_str(j, shape), ref[j], got[j]);
  }
  return c;
}

::testing::AssertionResult close(const std::vector<float>& ref, const std::vector<float>& got,
                                 const Shape& shape, double nmse_max, double abs_max) {
  if (ref.size() != got.size() || int64_t(ref.size()) != shape_numel(shape))
    return ::testing::AssertionFailure()
           << "size mismatch: ref " << ref.size() << " got " << got.size() << " shape "
           << shape_str(shape);
  const Comparison c = compare(ref.data(), got.data(), shape);
  const bool ok = c.nonfinite == 0 && c.nmse <= nmse_max && (abs_max <= 0 || c.max_abs <= abs_max);
  auto r = ok ? ::testing::AssertionSuccess() : ::testing::AssertionFailure();
  r << fmt::format("shape {} nmse={:.3e} (max {:.1e}) max_abs={:.3e}{} max_rel={:.3e} "
                   "nonfinite_mismatch={}\nworst:\n{}",
                   shape_str(shape), c.nmse, nmse_max, c.max_abs,
                   abs_max > 0 ? fmt::format(" (max {:.1e})", abs_max) : "", c.max_rel,
                   c.nonfinite, c.worst);
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
