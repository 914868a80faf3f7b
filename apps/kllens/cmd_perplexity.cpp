// kllens perplexity MODEL --text FILE [--ctx 256] [--max-tokens N] [--plan plan.json]
// The fixtures' protocol: tokenize the whole file (no BOS), keep the first N tokens, score
// tokens 1..ctx-1 of each non-overlapping window of ctx tokens, PPL = exp(mean NLL).
#include <fmt/format.h>

#include "common.h"
#include "kllens/perplexity.h"
#include "plan_option.h"

namespace kllens::cli {

void register_perplexity(CLI::App& app) {
  struct Args { std::string model, text; int64_t ctx = 256, max_tokens = 0, batch = 4; BackendOption backend; MatmulModeOption matmul; PlanOption plan; };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("perplexity", "Perplexity over non-overlapping windows");
  cmd->add_option("MODEL", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--text", a->text, "Text file")->required();
  cmd->add_option("--ctx", a->ctx, "Window length in tokens")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--max-tokens", a->max_tokens, "Use only the first N tokens (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", a->batch, "Windows per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  a->backend.add_to(cmd);
  a->matmul.add_to(cmd);
  a->plan.add_to(cmd);
  cmd->callback([a] {
    auto tok = load_tokenizer(a->model);
    std::vector<int32_t> ids = tok->encode(read_text(a->text));
    if (a->max_tokens > 0 && int64_t(ids.size()) > a->max_tokens) ids.resize(size_t(a->max_tokens));
    run_with_cpu_fallback(a->backend, [&](BackendHandle& be) {
      a->matmul.apply(*be);
      auto model = a->plan.load(a->model, *be);
      const PerplexityResult r = perplexity(*model, ids, a->ctx, a->batch,
                                            [](int64_t d, int64_t t) { progress("windows", d, t); });
      fmt::print("perplexity {:.6f}\n", r.ppl());
      fmt::print("tokens scored {} in {} windows of {}; {:.1f} tokens/s on {}\n", r.scored, r.windows,
                 a->ctx, r.tokens_per_second(), be->name());
    });
  });
}

}  // namespace kllens::cli
