// kllens generate MODEL --prompt TEXT -n N [--temperature --top-k --top-p --seed] [--no-replay] [--plan plan.json]
// Prefills the prompt, then decodes one token at a time with the recurrent state and
// streams the text. Greedy unless --temperature > 0. Decode steps replay a recorded step
// where the backend and model allow (kllens/decode.h). With --top-k and a temperature the
// k candidates are chosen on the backend (Backend::topk), so only 2k numbers per token
// come back to the host instead of the whole vocabulary. A Vulkan device fault (out of
// device memory, device lost) mid-way says so in one line and goes on on the CPU from the
// tokens printed so far.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdio>

#include "common.h"
#include "kllens/decode.h"
#include "kllens/error.h"
#include "kllens/sampling.h"
#include "plan_option.h"

namespace kllens::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, prompt_ids;
  bool print_ids = false;
  int64_t n = 32, ctx = 2048;
  SamplingParams sampling;
  bool ignore_eos = false, no_replay = false;
  BackendOption backend;
  MatmulModeOption matmul;
  PlanOption plan;
};

void run_generate(const GenerateArgs& a) {
  auto tok = load_tokenizer(a.model);
  const std::vector<int32_t> prompt =
      a.prompt_ids.empty() ? tok->encode(a.prompt) : parse_ids(a.prompt_ids, "--prompt-ids");
  if (prompt.empty()) fail("generate: empty prompt");
  const std::string prompt_text = a.prompt_ids.empty() ? a.prompt : tok->decode(prompt);
  if (int64_t(prompt.size()) > a.ctx)
    fail("generate: the prompt has {} tokens, longer than the context of {} (--ctx)", prompt.size(), a.ctx);
  const int64_t steps = std::min(a.n, a.ctx - int64_t(prompt.size()));
  Sampler sampler(a.sampling);
  auto decoder = tok->stream_decoder();
  std::fwrite(prompt_text.data(), 1, prompt_text.size(), stdout);
  std::fflush(stdout);

  // Tokens chosen and printed so far. A device fault (VulkanDeviceError) ends a session on
  // that backend; the next one, on the CPU, prefills the prompt and these tokens and goes
  // on from there, so the text already printed is never repeated and the sampler's stream
  // continues (a fault comes before a draw, never inside one).
  std::vector<int32_t> out_ids;
  bool eos = false;
  double prefill_s = 0, decode_s = 0;
  size_t prefilled = 0;
  bool replaying = false;
  std::string backend_name;
  run_with_cpu_fallback(a.backend, [&](BackendHandle& be) {
    a.matmul.apply(*be);
    auto model = a.plan.load(a.model, *be);
    const int64_t V = model->config().vocab_size;
    std::vector<int32_t> context = prompt;
    context.insert(context.end(), out_ids.begin(), out_ids.end());
    auto state = model->new_state(1);
    Tensor logits = be->alloc(DType::F32, {int64_t(context.size()), V});
    std::vector<float> last(static_cast<size_t>(V));
    const auto t0 = std::chrono::steady_clock::now();
    model->forward(context, 1, int64_t(context.size()), *state, logits);
    be->download(logits.slice_rows(int64_t(context.size()) - 1, 1), last.data());
    const auto t1 = std::chrono::steady_clock::now();
    const Tensor step_logits = logits.slice_rows(0, 1);
    // Greedy: the argmax on the backend, in the step (its id is all a step downloads).
    const bool greedy = a.sampling.temperature <= 0.f;
    const Tensor next_id = greedy ? be->alloc(DType::I32, {1}) : Tensor{};
    Decoder decode(*model, *state, step_logits, !a.no_replay, next_id);
    // Top-k candidates on the backend: [1, k] values and ids.
    const int64_t k = sampler.uses_topk() ? std::min<int64_t>(sampler.top_k(), V) : 0;
    Tensor top_values, top_ids;
    std::vector<float> kv(static_cast<size_t>(k));
    std::vector<int32_t> ki(static_cast<size_t>(k));
    if (k > 0) top_values = be->alloc(DType::F32, {1, k}), top_ids = be->alloc(DType::I32, {1, k});
    auto choose = [&](const Tensor& row, bool on_host) {
      if (on_host) return sampler.next(last.data(), V);
      if (greedy) {
        int32_t id = 0;
        be->download(next_id, &id);
        return id;
      }
      if (k == 0) return sampler.next(last.data(), V);
      be->topk(row, top_values, top_ids);
      be->download(top_values, kv.data());
      be->download(top_ids, ki.data());
      return sampler.next_topk(kv.data(), ki.data(), k);
    };
    bool first = true;
    while (!eos && int64_t(out_ids.size()) < steps) {
      // The prefill's last row is already on the host; later rows are chosen on the backend.
      const int32_t next = choose(step_logits, first);
      first = false;
      if (!a.ignore_eos && tok->eos_id() && next == *tok->eos_id()) {
        eos = true;
        break;
      }
      out_ids.push_back(next);
      const std::string piece = decoder.push(next);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      if (int64_t(out_ids.size()) == steps) break;
      decode.step(next);
      if (!greedy && k == 0) be->download(step_logits, last.data());
    }
    prefilled = context.size();
    prefill_s = std::chrono::duration<double>(t1 - t0).count();
    decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    replaying = decode.replaying();
    backend_name = be->name();
  });
  const std::string rest = decoder.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::printf("\n");
  if (a.print_ids) fmt::print(stderr, "ids [{}]\n", fmt::join(out_ids, ","));
  const int64_t generated = int64_t(out_ids.size()) - int64_t(prefilled - prompt.size());
  std::fprintf(stderr, "prompt %zu tokens in %.3f s (%.1f tok/s); %lld tokens generated (%.1f tok/s, %s) on %s\n",
               prefilled, prefill_s, double(prefilled) / prefill_s, (long long)generated,
               generated > 0 ? double(generated) / decode_s : 0.0,
               replaying ? "replayed steps" : "direct steps", backend_name.c_str());
}

}  // namespace

void register_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt (greedy by default)");
  cmd->add_option("MODEL", a->model, "Hugging Face model folder")->required();
  auto* text = cmd->add_option("--prompt", a->prompt, "Prompt text");
  auto* ids = cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids");
  text->excludes(ids);
  cmd->add_flag("--print-ids", a->print_ids, "Print the generated token ids to stderr");
  cmd->add_option("-n", a->n, "Tokens to generate")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--ctx", a->ctx, "Context length: prompt plus generated tokens")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temperature", a->sampling.temperature, "0 = greedy")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", a->sampling.top_k, "Keep the k most likely tokens (0 = all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a->sampling.top_p, "Nucleus probability mass")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a->sampling.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep going after the end-of-text token");
  cmd->add_flag("--no-replay", a->no_replay, "Run every decode step directly instead of replaying a recorded one");
  a->backend.add_to(cmd);
  a->matmul.add_to(cmd);
  a->plan.add_to(cmd);
  cmd->callback([a, text, ids] {
    if (text->count() == 0 && ids->count() == 0) fail("generate: give --prompt or --prompt-ids");
    run_generate(*a);
  });
}

}  // namespace kllens::cli
