// Greedy and stochastic next-token choice. Top-k candidates come from the topk op's CPU
// kernel (src/cpu/topk.h) on a host row, or from Backend::topk on the device (next_topk);
// both give the same candidates in the same order, so the draw is the same.
#include "kllens/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "cpu/argmax.h"
#include "cpu/topk.h"
#include "kllens/error.h"

namespace kllens {

int32_t argmax(const float* x, int64_t n) { return int32_t(cpu::argmax_row_ref(x, n)); }

int32_t Sampler::next(const float* logits, int64_t vocab) {
  if (p_.temperature <= 0.f) return argmax(logits, vocab);
  const int64_t keep = p_.top_k > 0 ? std::min<int64_t>(p_.top_k, vocab) : vocab;
  std::vector<float> values(static_cast<size_t>(keep));
  std::vector<int32_t> ids(static_cast<size_t>(keep));
  if (p_.top_k > 0) {
    cpu::topk_row(best_cpu_tier(), logits, vocab, keep, values.data(), ids.data());
  } else {  // every token: a full sort in the topk order (topk's insertion would be O(V²))
    std::iota(ids.begin(), ids.end(), 0);
    std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return cpu::topk_before(logits[a], a, logits[b], b); });
    for (size_t i = 0; i < ids.size(); ++i) values[i] = logits[ids[i]];
  }
  return pick(values.data(), ids.data(), keep);
}

int32_t Sampler::next_topk(const float* values, const int32_t* ids, int64_t k) {
  KL_CHECK(uses_topk() && k >= 1, "next_topk needs temperature > 0 and top_k > 0 (k = {})", k);
  return pick(values, ids, k);
}

// Softmax at the temperature over the candidates (best first), cut to the nucleus, drawn.
int32_t Sampler::pick(const float* values, const int32_t* ids, int64_t k) {
  std::vector<double> prob(static_cast<size_t>(k));
  const double mx = values[0];
  double sum = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    prob[i] = std::exp((double(values[i]) - mx) / p_.temperature);
    sum += prob[i];
  }
  // nucleus: the smallest prefix whose mass reaches top_p
  double mass = 0;
  size_t n = prob.size();
  for (size_t i = 0; i < prob.size(); ++i) {
    mass += prob[i] / sum;
    if (mass >= p_.top_p) { n = i + 1; break; }
  }
  std::discrete_distribution<size_t> draw(prob.begin(), prob.begin() + long(n));
  return ids[draw(rng_)];
}

}  // namespace kllens
