// One-token decode steps through kllens::Decoder on each backend, direct and replayed
// (kllens/decode.h), and on Vulkan the host cost of recording one step (what a replay no
// longer pays): begin_capture, the model's forward, end_capture, without running it.
//
// Models: the project's models/tiny-mamba (found from this file's path) and every folder
// in $KLLENS_BENCH_MODELS (comma separated, e.g. a `kllens synth --preset mamba-130m`
// output). Names: decode_step/<backend>/<model folder>/{direct,replayed,record_only}.
// A step includes downloading its logits row and the host argmax that picks the next id.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_backends.h"
#include "kllens/decode.h"
#include "kllens/model.h"
#include "kllens/sampling.h"

namespace kllens::bench {
namespace {

enum class Mode { Direct, Replayed, RecordOnly };

// Loaded once per (backend, folder) and kept: Google Benchmark calls a benchmark function
// several times while it settles the iteration count.
Model& model(const std::string& dir, Backend* be) {
  static std::map<std::pair<std::string, Backend*>, std::unique_ptr<Model>> loaded;
  auto& m = loaded[{dir, be}];
  if (!m) m = Model::load(dir, *be);
  return *m;
}

void decode_step(benchmark::State& st, std::string dir, Backend* be, Mode mode) {
  Model& m = model(dir, be);
  const int64_t V = m.config().vocab_size;
  auto state = m.new_state(1);
  Tensor logits = be->alloc(DType::F32, {1, V});
  std::vector<float> row(static_cast<size_t>(V));
  Decoder decoder(m, *state, logits, mode == Mode::Replayed);
  int32_t token = 1;
  decoder.step(token);  // the capture, when replaying, stays out of the timing
  be->download(logits, row.data());
  for (auto _ : st) {
    if (mode == Mode::RecordOnly) {
      be->begin_capture();
      m.forward({token}, 1, 1, *state, logits);
      benchmark::DoNotOptimize(be->end_capture());
      continue;
    }
    decoder.step(token);
    be->download(logits, row.data());
    token = argmax(row.data(), V);
  }
  if (mode == Mode::Replayed && !decoder.replaying()) st.SkipWithError("the step was not replayed");
  st.counters["tokens/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
}

std::vector<std::string> model_dirs() {
  std::vector<std::string> dirs;
  const std::filesystem::path own = std::filesystem::path(__FILE__).parent_path().parent_path() / "models/tiny-mamba";
  if (std::filesystem::exists(own / "config.json")) dirs.push_back(own.string());
  if (const char* extra = std::getenv("KLLENS_BENCH_MODELS")) {
    std::string list = extra;
    for (size_t at = 0; at <= list.size();) {
      const size_t comma = std::min(list.find(',', at), list.size());
      if (comma > at) dirs.push_back(list.substr(at, comma - at));
      at = comma + 1;
    }
  }
  return dirs;
}

const bool kRegistered = [] {
  for (const std::string& dir : model_dirs())
    for (const NamedBackend& b : backends()) {
      const std::string base = "decode_step/" + b.name + "/" + std::filesystem::path(dir).filename().string();
      const bool captures = b.name == "vulkan";
      for (auto [mode, what] : {std::pair{Mode::Direct, "direct"}, {Mode::Replayed, "replayed"},
                                {Mode::RecordOnly, "record_only"}}) {
        if (!captures && mode != Mode::Direct) continue;  // the CPU backend runs steps directly
        benchmark::RegisterBenchmark((base + "/" + what).c_str(), decode_step, dir, b.backend, mode)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.5);
      }
    }
  return true;
}();

}  // namespace
}  // namespace kllens::bench
