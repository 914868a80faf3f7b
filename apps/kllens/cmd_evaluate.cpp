// kllens evaluate MODEL --plan plan.json --text FILE [--ctx 256 --max-tokens N --decode 32
//   --json OUT --backend]
// Perplexity and whole-model KL of a plan against the unquantised model (llama.cpp's KL
// statistics), model bytes, and the quantised model's prefill/decode tokens/s. Both
// matmul modes are measured (MatmulMode): exact (the lens's fake quantisation, without
// timings) first, then fast (the deployed arithmetic, with the speed); the JSON holds the
// fast result at the top level and the exact one under "exact".
#include <fmt/format.h>

#include "kllens/io.h"
#include "lens_cli.h"

namespace kllens::cli {

void register_evaluate(CLI::App& app) {
  struct Args { std::string model, plan, text, json; int64_t ctx = 256, max_tokens = 0, decode = 32; BackendOption backend; };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("evaluate", "Perplexity and KL of a mixed-precision plan vs the unquantised model");
  cmd->add_option("MODEL", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--plan", a->plan, "Plan file (kllens allocate)")->required();
  cmd->add_option("--text", a->text, "Held-out text")->required();
  cmd->add_option("--ctx", a->ctx, "Window length")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--max-tokens", a->max_tokens, "Use only the first N tokens (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--decode", a->decode, "Decode steps timed")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--json", a->json, "Also write the results as JSON");
  a->backend.add_to(cmd);
  cmd->callback([a] {
    refuse_output_over_inputs("--json", a->json, {a->model, a->plan, a->text});
    const Plan plan = Plan::load(a->plan);
    auto be = a->backend.make();
    auto model = Model::load(a->model, *be);
    auto ids = load_tokenizer(a->model)->encode(read_text(a->text));
    if (a->max_tokens > 0 && int64_t(ids.size()) > a->max_tokens) ids.resize(size_t(a->max_tokens));
    auto run = [&](MatmulMode mode, int64_t decode) {
      be->set_matmul_mode(mode);
      ProgressBar bar(fmt::format("windows ({})", matmul_mode_name(mode)));
      return evaluate_plan(*model, plan, ids, a->ctx, decode,
                           [&](int64_t d, int64_t t) { bar.update(d, t, ""); });
    };
    const EvalResult exact = run(MatmulMode::exact, 0);
    const EvalResult fast = run(MatmulMode::fast, a->decode);
    fmt::print("matmul mode exact (fp32 activations x dequantised weights):\n{}", exact.to_text());
    fmt::print("matmul mode fast (int8 activations x integer weights):\n{}", fast.to_text());
    fmt::print("backend {}\n", be->name());
    nlohmann::ordered_json j = fast.to_json();
    j["matmul_mode"] = "fast";
    j["exact"] = exact.to_json();
    if (!a->json.empty()) write_file_atomic(a->json, j.dump(2) + "\n");
  });
}

}  // namespace kllens::cli
