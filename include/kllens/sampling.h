// Next-token choice for generation: greedy, or temperature / top-k / top-p sampling
// with a seeded generator so that runs replay.
#pragma once

#include <cstdint>
#include <random>

namespace kllens {

struct SamplingParams {
  float temperature = 0.f;  // 0 = greedy (argmax)
  int top_k = 0;            // 0 = no limit
  float top_p = 1.f;        // nucleus mass
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams p) : p_(p), rng_(p.seed) {}
  int32_t next(const float* logits, int64_t vocab);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

int32_t argmax(const float* x, int64_t n);  // first index of the maximum

}  // namespace kllens
