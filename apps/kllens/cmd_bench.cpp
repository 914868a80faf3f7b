// kllens bench -m A[,B...] [--backend cpu,vulkan] [-p 512] [-n 128] [-r 5] [-o md|csv|json|jsonl]
//   [-t THREADS] [--plan plan.json] [--no-replay] [--device N] [--profile]
// llama-bench's peer: for every model × backend, a prompt test ppP (one prefill of P
// random token ids from a fresh state) and a generation test tgN (N decode steps after a
// one-token prefill), each repeated r times after one warm-up run, reported as mean ±
// sample stdev of tokens/s. Also: the model's bytes as loaded, the weight stream of decode
// (bytes × tokens/s: a decode step reads every weight once) and that as a fraction of the
// host memory-read bandwidth measured in the same run (the roofline of the CPU, of
// lavapipe and of unified-memory GPUs; a discrete GPU's VRAM is faster), device, driver
// and threads, and the process's resident memory after each test (with the model loaded:
// what a deployment of it holds). Decode goes through kllens::Decoder: replayed steps where possible (the
// first step of each repetition records the graph, and is timed), direct with --no-replay.
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "bench_report.h"
#include "common.h"
#include "kllens/bandwidth.h"
#include "kllens/decode.h"
#include "kllens/error.h"
#include "kllens/gguf_model.h"
#include "kllens/op_profile.h"
#include "kllens/safetensors.h"
#include "kllens/sampling.h"
#include "plan_option.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"  // vulkan_counters: dispatches, submits, bytes, host time per token
#else
namespace kllens {
struct VulkanCounters { int64_t dispatches = 0, submits = 0; double bytes_read = 0, bytes_written = 0, host_us = 0;
                        VulkanCounters operator-(const VulkanCounters&) const { return {}; } };
inline bool vulkan_counters(Backend&, VulkanCounters&) { return false; }
}  // namespace kllens
#endif

namespace kllens::cli {

namespace {

struct BenchArgs {
  std::vector<std::string> models, backends{"cpu"};
  std::vector<int64_t> prompt{512}, gen{128};
  int64_t reps = 5;
  int threads = 0;
  std::string output = "md";
  bool no_replay = false, profile = false;
  int device = -1;
  PlanOption plan;
  MatmulModeOption matmul;
  UniformQuantOption quantize;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// cpu_profile: with --profile, the CPU backend's ops are timed into it (kllens/op_profile.h).
BackendHandle make_backend(const std::string& name, const BenchArgs& a, std::string& device, std::string& driver,
                           const std::shared_ptr<OpProfile>& cpu_profile) {
  if (name == "cpu") {
    device = cpu_name();
    driver = "kllens cpu (OpenMP)";
    auto be = make_cpu_backend(best_cpu_tier());
    if (a.profile) be = profile_ops(std::move(be), cpu_profile);
    return BackendHandle(std::move(be), false);
  }
#ifdef KLLENS_HAVE_VULKAN
  VulkanOptions options;
  options.device_index = a.device;
  options.profile = a.profile;
  try {
    auto be = make_vulkan_backend(options);
    device = be->name().substr(std::string("vulkan: ").size());
    driver = vulkan_driver(*be);
    return BackendHandle(std::move(be), a.profile);
  } catch (const Error& e) {
    fail("bench: --backend vulkan: no usable Vulkan device ({})", e.what());
  }
#else
  (void)a, (void)device, (void)driver;
  fail("bench: --backend vulkan: this kllens was built without the Vulkan backend");
#endif
}

// Bytes of the weights as loaded, every tensor once: the checkpoint's tensors, with each
// linear layer counted as the model holds it (a --plan changes them), and a tied head
// that still reads the embedding not counted again.
uint64_t loaded_bytes(Model& model, const TensorStore& store, int64_t& params) {
  const bool tied = model.config().tie_word_embeddings;
  int64_t bytes = 0;
  params = 0;
  for (const std::string& name : store.names()) {
    if (tied && name == "lm_head.weight") continue;
    bytes += int64_t(store.get(name).bytes);
    if (!name.ends_with(".weight_scale")) params += shape_numel(store.get(name).shape);
  }
  for (const LinearLayer& l : model.linear_layers()) {
    int64_t stored = 0;
    for (const std::string& t : {l.name + ".weight", l.name + ".weight_scale"})
      if (const TensorInfo* info = store.find(t); info && !(tied && t == "lm_head.weight")) stored += int64_t(info->bytes);
    if (stored == 0 && !dtype_is_quantized(l.weight->w.dtype)) continue;  // the tied head is the embedding
    const int64_t held = l.weight->w.rows() * int64_t(l.weight->w.row_bytes()) + (l.weight->scale.empty() ? 0 : 4 * l.weight->scale.numel());
    bytes += held - stored;
  }
  return uint64_t(bytes);
}

// The bytes one decode step reads. A tied head reads the whole embedding (counted once in
// model_bytes); a head of its own (a checkpoint's lm_head, or one `quantize --head` made)
// leaves the embedding to the gather, which reads one row per token.
// The process's resident memory now (/proc/self/statm's second field, in pages), 0 where
// it cannot be read.
uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

uint64_t decode_stream_bytes(const ModelConfig& config, const TensorStore& store, uint64_t model_bytes) {
  if (config.tie_word_embeddings || !store.find("lm_head.weight")) return model_bytes;
  for (const char* name : {"backbone.embeddings.weight", "backbone.embedding.weight", "model.embed_tokens.weight"})
    if (const TensorInfo* e = store.find(name); e && !e->shape.empty() && e->shape[0] > 0)
      return model_bytes - e->bytes + e->bytes / uint64_t(e->shape[0]);
  return model_bytes;
}

// One test, r timed repetitions after a warm-up run.
std::vector<double> time_test(Model& model, Backend& be, int64_t P, int64_t N, const BenchArgs& a, bool& replayed,
                              OpProfile* profile) {
  const int64_t V = model.config().vocab_size;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> tok(0, int32_t(std::min<int64_t>(V, 4096) - 1));
  std::vector<int32_t> ids(size_t(std::max<int64_t>(P, 1)));
  for (auto& t : ids) t = tok(rng);
  Tensor logits = be.alloc(DType::F32, {int64_t(ids.size()), V});
  const Tensor next_id = be.alloc(DType::I32, {1});
  std::vector<float> last(static_cast<size_t>(V));
  std::vector<double> out;
  for (int64_t r = 0; r <= a.reps; ++r) {  // r = 0: warm-up
    auto state = model.new_state(1);
    double sec = 0;
    if (P > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      model.forward(ids, 1, P, *state, logits);
      be.download(logits.slice_rows(P - 1, 1), last.data());
      sec = seconds_since(t0);
    } else {
      model.forward({ids[0]}, 1, 1, *state, logits);  // the one-token prefill a decode starts from
      be.download(logits.slice_rows(0, 1), last.data());
      const Tensor step = logits.slice_rows(0, 1);
      // Greedy on the backend, as generate does: a step downloads its token id, not its logits.
      Decoder decoder(model, *state, step, !a.no_replay, next_id);
      int32_t next = argmax(last.data(), V);
      VulkanCounters vk0, vk1;
      const bool vk = r == a.reps && vulkan_counters(be, vk0);
      if (profile && r > 0) profile->start();
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < N; ++i) {
        decoder.step(next);
        be.download(next_id, &next);
      }
      sec = seconds_since(t0);
      if (profile && r > 0) profile->stop(N);
      replayed = decoder.replaying();
      if (vk && vulkan_counters(be, vk1) && N > 0) {  // the last repetition, per decode token
        const VulkanCounters d = vk1 - vk0;
        const double n = double(N);
        fmt::print(stderr, "vulkan per decode token: {:.1f} dispatches, {:.1f} submits, {:.0f} us host, {:.1f} MB bound for reading\n",
                   double(d.dispatches) / n, double(d.submits) / n, d.host_us / n, d.bytes_read / n / 1e6);
      }
    }
    if (r > 0) out.push_back(sec);
  }
  return out;
}

void run_bench(const BenchArgs& a) {
  if (a.models.empty()) fail("bench: give a model (-m A,B or MODEL)");
  for (const std::string& b : a.backends)
    if (b != "cpu" && b != "vulkan") fail("bench: --backend {}: expected cpu or vulkan", b);
  if (a.output != "md" && a.output != "csv" && a.output != "json" && a.output != "jsonl")
    fail("bench: -o {}: expected md, csv, json or jsonl", a.output);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  const double bw = measure_read_bandwidth();
  std::vector<BenchResult> rows;
  const auto cpu_profile = std::make_shared<OpProfile>();
  for (const std::string& backend_option : a.backends) {
    // A device fault drops this backend's rows so far and measures them on the CPU,
    // labelled cpu (the line run_with_cpu_fallback prints says so).
    const size_t first_row = rows.size();
    std::string backend = backend_option, device, driver;
    run_with_cpu_fallback([&] { return make_backend(backend_option, a, device, driver, cpu_profile); },
                          [&](BackendHandle& be) {
    rows.erase(rows.begin() + std::ptrdiff_t(first_row), rows.end());
    if (be->name().rfind("cpu", 0) == 0 && backend != "cpu") {
      backend = "cpu";
      device = cpu_name();
      driver = "kllens cpu (OpenMP)";
    }
    OpProfile* profile = backend == "cpu" && a.profile ? cpu_profile.get() : nullptr;
    for (const std::string& path : a.models) {
      const TensorStore store = open_model_files(path).store;
      a.matmul.apply(*be);
      auto model = a.plan.load(path, *be);
      a.quantize.apply(*model);
      BenchResult base;
      base.model = std::filesystem::path(path).lexically_normal().filename().string();
      if (base.model.empty()) base.model = std::filesystem::path(path).lexically_normal().parent_path().filename().string();
      base.model_path = path;
      base.plan = a.plan.path;
      if (!a.plan.path.empty()) base.model += " + " + std::filesystem::path(a.plan.path).stem().string();
      base.model_bytes = loaded_bytes(*model, store, base.params);
      base.stream_bytes = decode_stream_bytes(model->config(), store, base.model_bytes);
      base.backend = backend;
      base.device = device;
      base.driver = driver;
      base.threads = omp_get_max_threads();
      base.read_bw_gbps = bw;
      auto run = [&](int64_t P, int64_t N) {
        BenchResult r = base;
        r.n_prompt = P;
        r.n_gen = N;
        r.test = P > 0 ? fmt::format("pp{}", P) : fmt::format("tg{}", N);
        if (isatty(STDERR_FILENO)) fmt::print(stderr, "bench: {} on {}: {} ...\n", base.model, backend, r.test);
        bool replayed = false;
        r.seconds = time_test(*model, *be, P, N, a, replayed, profile);
        r.resident_bytes = resident_bytes();
        if (N > 0) r.decode_steps = replayed ? "replayed" : "direct";
        rows.push_back(std::move(r));
      };
      for (int64_t P : a.prompt) if (P > 0) run(P, 0);
      for (int64_t N : a.gen) if (N > 0) run(0, N);
      if (profile) {  // the timed tg repetitions of this model
        fmt::print(stderr, "{}", profile->report(fmt::format("cpu op profile, {}", base.model)));
        profile->clear();
      }
    }
    });
  }
  if (a.output == "csv") fmt::print("{}", bench_csv(rows));
  else if (a.output == "json") fmt::print("{}", bench_json(rows));
  else if (a.output == "jsonl") fmt::print("{}", bench_jsonl(rows));
  else {
    fmt::print("{}\n", bench_markdown(rows));
    fmt::print("host memory-read bandwidth (same run): {:.2f} GB/s\n", bw);
    std::vector<std::string> seen;
    for (const BenchResult& r : rows) {
      if (std::find(seen.begin(), seen.end(), r.backend) != seen.end()) continue;
      seen.push_back(r.backend);
      std::string steps;  // what the backend's tg rows ran: replayed or direct steps
      for (const BenchResult& t : rows)
        if (t.backend == r.backend && !t.decode_steps.empty()) steps = ", " + t.decode_steps + " decode steps";
      fmt::print("{}: {} ({}){}\n", r.backend, r.device, r.driver, steps);
    }
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Prompt and generation tokens/s (llama-bench's tests and table)");
  auto* pos = cmd->add_option("MODEL", a->models, "Model folder (or use -m)");
  cmd->add_option("-m,--model", a->models, "Model folders, comma-separated")->delimiter(',')->excludes(pos);
  cmd->add_option("--backend", a->backends, "Backends, comma-separated: cpu, vulkan")->delimiter(',')->capture_default_str();
  // Bounded before anything is sized from them: a prefill of 64 k tokens is already far
  // beyond what a benchmark needs.
  cmd->add_option("-p,--prompt", a->prompt, "Prompt lengths (pp tests), comma-separated; 0 = none")->delimiter(',')
      ->capture_default_str()->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-n,--gen", a->gen, "Generation lengths (tg tests), comma-separated; 0 = none")->delimiter(',')
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-r,--reps", a->reps, "Repetitions of each test (after one warm-up)")->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("-o,--output", a->output, "md, csv, json or jsonl")->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "OpenMP threads (0 = OpenMP's default)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-replay", a->no_replay, "Run every decode step directly instead of replaying a recorded one");
  cmd->add_option("--device", a->device, "Vulkan device index (see check-kernels --list-devices)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--profile", a->profile, "Vulkan: GPU time per kernel; CPU: wall time per op kind per decode token; "
                "printed to stderr");
  a->plan.add_to(cmd);
  a->matmul.add_to(cmd);
  a->quantize.add_to(cmd);
  cmd->callback([a] {
    run_bench(*a);
  });
}

}  // namespace kllens::cli
