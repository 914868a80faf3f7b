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
  // The same choice from the candidates alone, when top_k > 0 and temperature > 0: the
  // min(top_k, vocab) best logits and their ids, best first as Backend::topk gives them.
  // Identical to next() on the whole row for the same seed and history.
  int32_t next_topk(const float* values, const int32_t* ids, int64_t k);
  // True when next_topk may stand in for next().
  bool uses_topk() const { return p_.temperature > 0.f && p_.top_k > 0; }
  int top_k() const { return p_.top_k; }

 private:
  int32_t pick(const float* values, const int32_t* ids, int64_t k);

  SamplingParams p_;
  std::mt19937_64 rng_;
};

// The first index of the maximum; NaN is never chosen, a row with nothing above −∞ gives 0
// (the rule of Backend::argmax).
int32_t argmax(const float* x, int64_t n);

}  // namespace kllens
