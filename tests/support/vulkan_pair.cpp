// The Vulkan op suites' harness (see vulkan_pair.h).
#ifdef KLLENS_HAVE_VULKAN
#include "support/vulkan_pair.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "kllens/check.h"
#include "kllens/error.h"
#include "kllens/vulkan.h"
#include "support/compare.h"

namespace kllens::test {

Backend* vulkan() {
  // Instance creation with validation is slow: once per process.
  static std::unique_ptr<Backend> vk = [] {
    std::unique_ptr<Backend> b;
    try {
      VulkanOptions o;
      o.validation = true;
      b = make_vulkan_backend(o);
      std::printf("vulkan device: %s\n", vulkan_device_summary(*b).c_str());
    } catch (const Error& e) {
      if (std::string(e.what()).find("no Vulkan driver") == std::string::npos) throw;
      std::printf("no Vulkan driver: %s\n", e.what());
    }
    return b;
  }();
  return vk.get();
}

Backend& cpu() {
  static std::unique_ptr<Backend> b = make_cpu_backend(best_cpu_tier());
  return *b;
}

std::vector<float> randu(size_t n, uint32_t seed, float lo, float hi) {
  return check::uniform(int64_t(n), seed, lo, hi);
}

Pair make_pair(DType t, const Shape& shape, const std::vector<float>& values, int64_t pad,
               int64_t lead) {
  Pair p;
  Shape ps = shape;
  ps.back() += pad;
  p.parent_shape = ps;
  std::vector<float> full =
      pad ? randu(size_t(shape_numel(ps)), 777u + uint32_t(shape_numel(ps))) : values;
  if (pad) {  // place `values` inside the guard-filled parent
    const int64_t cols = shape.back(), rows = shape_numel(shape) / std::max<int64_t>(cols, 1);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k)
        full[size_t(r * (cols + pad) + lead + k)] = values[size_t(r * cols + k)];
  }
  const std::vector<uint8_t> bytes = check::encode(t, full);
  p.cp = cpu().alloc(t, ps);
  p.vp = vulkan()->alloc(t, ps);
  cpu().upload(p.cp, bytes.data());
  vulkan()->upload(p.vp, bytes.data());
  p.c = pad ? p.cp.slice_cols(lead, shape.back()) : p.cp;
  p.v = pad ? p.vp.slice_cols(lead, shape.back()) : p.vp;
  return p;
}

Pair random_pair(DType t, const Shape& shape, uint32_t seed, int64_t pad, int64_t lead, float lo,
                 float hi) {
  return make_pair(t, shape, randu(size_t(shape_numel(shape)), seed, lo, hi), pad, lead);
}

Pair random_pair(const Shape& shape, uint32_t seed, int64_t pad, int64_t lead, float lo, float hi) {
  return random_pair(DType::F32, shape, seed, pad, lead, lo, hi);
}

std::vector<float> fetch(Backend& b, const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  b.download(t, v.data());
  return v;
}

::testing::AssertionResult same(const Pair& p, double nmse, double* got_nmse) {
  vulkan()->sync();
  const std::vector<float> ref = fetch(cpu(), p.cp), got = fetch(*vulkan(), p.vp);
  const Comparison c = compare(ref.data(), got.data(), p.parent_shape);
  std::printf("    %-18s nmse %.2e  max_abs %.2e\n", shape_str(p.parent_shape).c_str(), c.nmse,
              c.max_abs);
  if (got_nmse) *got_nmse = c.nmse;
  return close(ref, got, p.parent_shape, nmse);
}

}  // namespace kllens::test
#endif  // KLLENS_HAVE_VULKAN
