// Greedy and stochastic next-token choice.
#include "kllens/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kllens/error.h"

namespace kllens {

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return int32_t(best);
}

int32_t Sampler::next(const float* logits, int64_t vocab) {
  if (p_.temperature <= 0.f) return argmax(logits, vocab);
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  int64_t keep = p_.top_k > 0 ? std::min<int64_t>(p_.top_k, vocab) : vocab;
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), by_logit);
  order.resize(size_t(keep));
  // softmax over the kept tokens, in double
  std::vector<double> prob(order.size());
  const double mx = logits[order[0]];
  double sum = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    prob[i] = std::exp((double(logits[order[i]]) - mx) / p_.temperature);
    sum += prob[i];
  }
  // nucleus: the smallest prefix whose mass reaches top_p
  double mass = 0;
  size_t n = order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    mass += prob[i] / sum;
    if (mass >= p_.top_p) { n = i + 1; break; }
  }
  std::discrete_distribution<size_t> pick(prob.begin(), prob.begin() + long(n));
  return order[pick(rng_)];
}

}  // namespace kllens
