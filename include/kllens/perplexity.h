// Perplexity under the fixtures' protocol: non-overlapping windows of `ctx` tokens, each
// scored on its tokens 1..ctx-1 (the first token of a window has no context),
// PPL = exp(mean NLL), accumulated in float64.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "kllens/model.h"

namespace kllens {

struct PerplexityResult {
  double nll_sum = 0;       // Σ −log p(token), nats
  int64_t scored = 0;       // tokens scored
  int64_t windows = 0;
  int64_t tokens_run = 0;   // tokens through the model (windows·ctx)
  double seconds = 0;       // wall time of the forward passes
  double ppl() const;
  double tokens_per_second() const;  // tokens run through the model per second
};

// Scores the first `windows·ctx` tokens of `tokens` (only whole windows; throws if
// there is not even one). Runs up to `batch` windows per forward call. `progress` (may
// be null) is told windows done / total.
PerplexityResult perplexity(Model& model, const std::vector<int32_t>& tokens, int64_t ctx,
                            int64_t batch = 4,
                            const std::function<void(int64_t, int64_t)>& progress = nullptr);

// Σ over rows of −log softmax(logits[r])[target[r]] in float64; logits [rows, V].
double nll_sum(const float* logits, int64_t V, const int32_t* targets, int64_t rows);

}  // namespace kllens
