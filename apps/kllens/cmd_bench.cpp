// kllens bench MODEL [--prompt 512] [--gen 64] [--backend] [--no-replay]
// End-to-end speed on random token ids: prefill and decode tokens/s, and decode's
// effective weight bandwidth as a fraction of the memory-read bandwidth measured in the
// same run (decode streams every weight once per token, so that is its roofline). Decode
// goes through kllens::Decoder: replayed steps where possible (the first step of each
// repetition records the graph, and is timed), direct ones with --no-replay.
#include <fmt/format.h>

#include <chrono>
#include <random>

#include "common.h"
#include "kllens/bandwidth.h"
#include "kllens/decode.h"
#include "kllens/gguf_model.h"
#include "kllens/safetensors.h"
#include "kllens/sampling.h"

namespace kllens::cli {

namespace {

struct BenchArgs {
  std::string model;
  int64_t prompt = 512, gen = 64, reps = 3;
  bool no_replay = false;
  BackendOption backend;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Bytes one decode step reads: every tensor of the checkpoint once (a tied head reads the
// embedding table in full; the gather of one embedding row is negligible).
double checkpoint_bytes(const std::string& dir, bool tied) {
  const TensorStore store = open_model_files(dir).store;
  double bytes = 0;
  for (const std::string& name : store.names())
    if (!(tied && name == "lm_head.weight")) bytes += double(store.get(name).bytes);
  return bytes;
}

void run_bench(const BenchArgs& a) {
  auto be = a.backend.make();
  auto model = Model::load(a.model, *be);
  const ModelConfig& c = model->config();
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> tok(0, int32_t(std::min<int64_t>(c.vocab_size, 4096) - 1));
  std::vector<int32_t> ids(static_cast<size_t>(a.prompt));
  for (auto& t : ids) t = tok(rng);

  Tensor logits = be->alloc(DType::F32, {a.prompt, c.vocab_size});
  std::vector<float> last(static_cast<size_t>(c.vocab_size));
  double prefill = 1e30, decode = 1e30;
  bool replayed = false;
  for (int64_t r = 0; r < a.reps; ++r) {
    auto state = model->new_state(1);
    auto t0 = std::chrono::steady_clock::now();
    model->forward(ids, 1, a.prompt, *state, logits);
    be->download(logits.slice_rows(a.prompt - 1, 1), last.data());
    prefill = std::min(prefill, seconds_since(t0));
    const Tensor step = logits.slice_rows(0, 1);
    Decoder decoder(*model, *state, step, !a.no_replay);
    t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < a.gen; ++i) {
      decoder.step(argmax(last.data(), c.vocab_size));
      be->download(step, last.data());
    }
    decode = std::min(decode, seconds_since(t0));
    replayed = decoder.replaying();
  }
  const double bytes = checkpoint_bytes(a.model, c.tie_word_embeddings);
  const double decode_tps = double(a.gen) / decode;
  const double bw = measure_read_bandwidth();
  fmt::print("model {} on {}: {:.1f} MB of weights\n", a.model, be->name(), bytes / 1e6);
  fmt::print("prefill  {} tokens: {:.1f} tokens/s\n", a.prompt, double(a.prompt) / prefill);
  fmt::print("decode   {} tokens: {:.1f} tokens/s ({:.2f} ms/token, {})\n", a.gen, decode_tps, 1e3 / decode_tps,
             replayed ? "replayed steps" : "direct steps");
  fmt::print("memory read bandwidth (same run): {:.2f} GB/s\n", bw);
  fmt::print("decode weight stream: {:.2f} GB/s = {:.0f}% of the read bandwidth\n",
             bytes * decode_tps / 1e9, 100.0 * bytes * decode_tps / 1e9 / bw);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Prefill and decode tokens/s against the memory roofline");
  cmd->add_option("MODEL", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--prompt", a->prompt, "Prefill length")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--gen", a->gen, "Decode steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--reps", a->reps, "Repetitions (best is reported)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--no-replay", a->no_replay, "Run every decode step directly instead of replaying a recorded one");
  a->backend.add_to(cmd);
  cmd->callback([a] { run_bench(*a); });
}

}  // namespace kllens::cli
