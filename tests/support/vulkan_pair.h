// The Vulkan op suites' harness: one validated Vulkan backend and one CPU backend per test
// process, and "pairs" — the same tensor view on both, inside a parent whose extra columns
// are guards, so comparing whole parents also catches writes outside a view.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kllens/backend.h"

namespace kllens::test {

// fp32 math on both sides; only summation order and exp/log ulps differ (each suite's
// header says why that bounds NMSE by 1e-7 for its ops).
inline constexpr double kVulkanVsCpuNmse = 1e-7;

// One Vulkan backend with validation (and synchronisation validation) on for the whole
// process, or nullptr when no Vulkan driver is installed at all.
Backend* vulkan();
Backend& cpu();

#define REQUIRE_VULKAN()                                                \
  do {                                                                  \
    if (!::kllens::test::vulkan()) GTEST_SKIP() << "no Vulkan driver installed at all"; \
  } while (0)

// check::uniform (the kernel tests' one random generator).
std::vector<float> randu(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f);

// The same [rows, cols] view on the CPU (c) and Vulkan (v) backends. With pad > 0 it is a
// column slice at column `lead` of a [rows, cols + pad] parent whose other columns are
// random guards.
struct Pair {
  Tensor c, v;    // the views
  Tensor cp, vp;  // their parents
  Shape parent_shape;
};

Pair make_pair(DType t, const Shape& shape, const std::vector<float>& values, int64_t pad = 0,
               int64_t lead = 0);
Pair random_pair(DType t, const Shape& shape, uint32_t seed, int64_t pad = 0, int64_t lead = 0,
                 float lo = -1.f, float hi = 1.f);
// F32 shorthand.
Pair random_pair(const Shape& shape, uint32_t seed, int64_t pad = 0, int64_t lead = 0,
                 float lo = -1.f, float hi = 1.f);

std::vector<float> fetch(Backend& b, const Tensor& t);

// Syncs Vulkan (which throws on any validation message), then compares the whole parents
// (views and guards) of an F32 output; stores the NMSE in *got_nmse if asked.
::testing::AssertionResult same(const Pair& p, double nmse = kVulkanVsCpuNmse,
                                double* got_nmse = nullptr);

}  // namespace kllens::test
