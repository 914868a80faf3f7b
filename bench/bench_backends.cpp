// The shared CPU and Vulkan backends of the benchmarks (bench_backends.h).
#include "bench_backends.h"

#include <cstdio>
#include <memory>

#include "kllens/error.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"
#endif

namespace kllens::bench {

const std::vector<NamedBackend>& backends() {
  static std::vector<std::unique_ptr<Backend>> owned;
  static const std::vector<NamedBackend> list = [] {
    std::vector<NamedBackend> out;
    owned.push_back(make_cpu_backend(best_cpu_tier()));
    out.push_back({"cpu", owned.back().get()});
#ifdef KLLENS_HAVE_VULKAN
    try {
      owned.push_back(make_vulkan_backend());
      out.push_back({"vulkan", owned.back().get()});
      std::fprintf(stderr, "vulkan: %s\n", vulkan_device_summary(*owned.back()).c_str());
    } catch (const Error& e) {
      std::fprintf(stderr, "vulkan benchmarks skipped: %s\n", e.what());
    }
#endif
    return out;
  }();
  return list;
}

}  // namespace kllens::bench
