// Perplexity over non-overlapping windows (see include/kllens/perplexity.h).
#include "kllens/perplexity.h"

#include <chrono>
#include <cmath>

#include "kllens/error.h"

namespace kllens {

double PerplexityResult::ppl() const { return std::exp(nll_sum / double(scored)); }

double PerplexityResult::tokens_per_second() const {
  return seconds > 0 ? double(tokens_run) / seconds : 0;
}

double nll_sum(const float* logits, int64_t V, const int32_t* targets, int64_t rows) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * V;
    double mx = z[0];
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(z[v]));
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(z[v]) - mx);
    total += mx + std::log(sum) - double(z[targets[r]]);
  }
  return total;
}

PerplexityResult perplexity(Model& model, const std::vector<int32_t>& tokens, int64_t ctx,
                            int64_t batch, const std::function<void(int64_t, int64_t)>& progress) {
  KL_CHECK(ctx >= 2, "context {} too short to score any token", ctx);
  const int64_t windows = int64_t(tokens.size()) / ctx;
  if (windows == 0)
    fail("text has {} tokens, fewer than one window of {} (--ctx)", tokens.size(), ctx);
  const int64_t V = model.config().vocab_size;
  Backend& be = model.backend();
  batch = std::max<int64_t>(1, std::min(batch, windows));

  PerplexityResult res;
  res.windows = windows;
  res.tokens_run = windows * ctx;
  Tensor logits = be.alloc(DType::F32, {batch * ctx, V});
  std::vector<float> host(static_cast<size_t>(batch * ctx * V));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t w0 = 0; w0 < windows; w0 += batch) {
    const int64_t nb = std::min(batch, windows - w0);
    std::vector<int32_t> ids(tokens.begin() + w0 * ctx, tokens.begin() + (w0 + nb) * ctx);
    auto state = model.new_state(nb);
    const Tensor out = logits.slice_rows(0, nb * ctx);
    model.forward(ids, nb, ctx, *state, out);
    be.download(out, host.data());
    for (int64_t b = 0; b < nb; ++b) {
      // positions 0..ctx-2 predict tokens 1..ctx-1
      res.nll_sum += nll_sum(host.data() + b * ctx * V, V, ids.data() + b * ctx + 1, ctx - 1);
      res.scored += ctx - 1;
    }
    if (progress) progress(w0 + nb, windows);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace kllens
