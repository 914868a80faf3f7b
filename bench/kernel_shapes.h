// The shapes every kernel benchmark iterates: the real linear layers of mamba-130m and
// mamba-1.4b (weights [N, K] = [out, in]) and their scan sizes. One list, so that the
// numbers of different kernels and backends line up.
#pragma once

#include <cstdint>

namespace kllens::bench {

struct LinearShape {
  const char* name;
  int64_t N, K;  // out_features, in_features
};

inline constexpr LinearShape kLinearShapes[] = {
    {"130m/in_proj", 3072, 768},  {"130m/x_proj", 80, 1536},    {"130m/dt_proj", 1536, 48},
    {"130m/out_proj", 768, 1536}, {"130m/lm_head", 50280, 768}, {"1.4b/in_proj", 8192, 2048},
    {"1.4b/out_proj", 2048, 4096}, {"1.4b/lm_head", 50280, 2048},
};

// Rows of x for the prefill (GEMM) cases: a 256-token chunk keeps one lm_head GEMM of
// mamba-1.4b around a second.
inline constexpr int64_t kPrefillRows = 256;

struct ScanShape {
  const char* name;
  int64_t I, N, K;  // channels (d_inner), state size, conv width
};

inline constexpr ScanShape kScanShapes[] = {
    {"130m", 1536, 16, 4},
    {"1.4b", 4096, 16, 4},
};

inline constexpr int64_t kScanSeqlens[] = {1, 512};

}  // namespace kllens::bench
