// Runtime CPU tier selection and per-thread scratch memory (see cpu_features.h).
#include "cpu/cpu_features.h"

#include <cpuid.h>

#include <cstdlib>
#include <memory>
#include <new>

namespace kllens::cpu {

namespace {
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
}  // namespace

// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not know "f16c".
static bool cpu_has_f16c() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

bool cpu_has_avx2() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return has;
}

bool cpu_has_avx512vnni() {
  // libgcc sets the AVX-512 features only where XCR0 shows the OS saves opmask and zmm state.
  static const bool has = cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

float* scratch_floats(size_t n) {
  thread_local std::unique_ptr<float, FreeDeleter> buf;
  thread_local size_t cap = 0;
  if (n > cap) {
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    buf.reset(p);
    cap = bytes / sizeof(float);
  }
  return buf.get();
}

void* scratch_act(size_t bytes) {
  thread_local std::unique_ptr<float, FreeDeleter> buf;
  thread_local size_t cap = 0;
  if (bytes > cap) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, rounded ? rounded : 64));
    if (!p) throw std::bad_alloc();
    buf.reset(p);
    cap = rounded;
  }
  return buf.get();
}

}  // namespace kllens::cpu
