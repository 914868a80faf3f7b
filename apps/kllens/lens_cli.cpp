// Shared pieces of the lens subcommands (see lens_cli.h).
#include "lens_cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "kllens/config.h"
#include "kllens/error.h"
#include "kllens/gguf_model.h"
#include "kllens/safetensors.h"

namespace kllens::cli {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{:.1f}s", s);
}

void ProgressBar::update(int64_t done, int64_t total, const std::string& what, int64_t skipped) {
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const int64_t ran = done - skipped;
  const double eta = ran > 0 ? el / double(ran) * double(total - done) : NAN;
  const int width = 24;
  const int fill = total > 0 ? int(width * done / total) : width;
  const std::string bar = std::string(size_t(fill), '#') + std::string(size_t(width - fill), '.');
  const std::string line = fmt::format("{} [{}] {}/{} {:5.1f}%  elapsed {}  eta {}  {}", label_, bar,
                                       done, total, total ? 100.0 * done / total : 100.0,
                                       format_duration(el), format_duration(eta), what);
  if (isatty(STDERR_FILENO)) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    if (done == total) std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

std::vector<int> parse_bits(const std::string& list) {
  std::vector<int> bits;
  for (int32_t v : parse_ids(list, "--bits")) {
    if (v != 2 && v != 3 && v != 4 && v != 8) fail("--bits: {} (expected 2, 3, 4 or 8)", v);
    if (std::find(bits.begin(), bits.end(), v) != bits.end()) fail("--bits: {} given twice", v);
    bits.push_back(v);
  }
  return bits;
}

void add_sweep_options(CLI::App* cmd, SweepArgs& a, bool with_model_and_out) {
  if (with_model_and_out) {
    cmd->add_option("MODEL", a.model, "Hugging Face model folder")->required();
    cmd->add_option("-o,--out", a.out, "Output folder")->required();
  }
  auto* calib = cmd->add_option("--calib", a.calib, "Calibration text file");
  auto* calib_ids = cmd->add_option("--calib-ids", a.calib_ids,
                                    "Calibration token ids: safetensors input_ids [N, T], JSON or text");
  calib->excludes(calib_ids);
  cmd->add_option("--samples", a.samples, "Calibration windows")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seqlen", a.seqlen, "Tokens per calibration window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--seed", a.seed, "Seed of the window choice")->capture_default_str();
  cmd->add_option("--bits", a.bits,
                  "Bit widths to probe: 4 and 8, and 2 and 3 for probing only (fake quantisation: "
                  "plans, quantize and GGUF use the 4- and 8-bit probes alone)")
      ->capture_default_str();
  cmd->add_option("--group", a.group, "Quantisation grouping: channel, 32, 64 or 128")
      ->capture_default_str()->check(CLI::IsMember({"channel", "32", "64", "128"}));
  cmd->add_option("--layers", a.layers, "Only layers whose name matches this regex");
  cmd->add_option("--ppl-text", a.ppl_text, "Also measure every probe's perplexity on this text");
  cmd->add_option("--ppl-tokens", a.ppl_tokens, "Perplexity on the first N tokens (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--ppl-ctx", a.ppl_ctx, "Perplexity window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_flag("--resume", a.resume, "Keep the probes a previous run of this sweep saved");
  cmd->add_flag("--no-prefix-reuse", a.no_prefix_reuse, "Run the full forward pass per probe (for comparison)");
  cmd->add_flag("--include-head", a.include_head,
                "Probe the output head lm_head too (a tied head is the embedding as well)");
  cmd->add_option("--teacher-cache-mb", a.teacher_cache_mb,
                  "Keep the teacher's logits when they fit, else recompute them")->capture_default_str();
  cmd->add_option("--shard", a.shard, "Run shard I of N (0-based, I/N) into its own folder; join with kllens merge");
  cmd->add_option("--max-probes", a.max_probes, "Stop after N new probes (tests of --resume)")->group("");
  cmd->add_option("--backend", a.backend.name,
                  "Where to run: cpu, vulkan, or several devices at once, one worker each "
                  "(cpu,vulkan or vulkan:0,vulkan:1)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        const std::regex one("cpu|vulkan(:[0-9]+)?");
        std::stringstream ss(v);
        std::string item;
        int n = 0;
        while (std::getline(ss, item, ',')) {
          if (!std::regex_match(item, one)) return "'" + item + "' is not cpu, vulkan or vulkan:N";
          ++n;
        }
        return n > 0 && v.back() != ',' ? std::string() : std::string("empty device in the list");
      });
  cmd->add_option("--device", a.backend.device, "Vulkan device index for a plain 'vulkan' (see check-kernels "
                  "--list-devices); default: $KLLENS_VULKAN_DEVICE, else the best GPU")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--profile", a.backend.profile,
                "Vulkan: GPU time per kernel (timestamps), printed to stderr at the end");
}

std::vector<BackendOption> sweep_backends(const SweepArgs& a) {
  std::vector<BackendOption> out;
  std::stringstream ss(a.backend.name);
  std::string item;
  while (std::getline(ss, item, ',')) {
    BackendOption o = a.backend;
    o.name = item.substr(0, item.find(':'));
    if (item.find(':') != std::string::npos) o.device = std::stoi(item.substr(item.find(':') + 1));
    out.push_back(o);
  }
  if (out.empty()) fail("--backend: no device");
  return out;
}

void add_paper_option(CLI::App* cmd, std::vector<std::string>& paper) {
  cmd->add_option("--paper", paper,
                  "Results in the paper's layout, BITS=FILE, one per bit width (instead of DIR)");
}

SensitivityReport load_report(const std::string& dir, const std::vector<std::string>& paper,
                              const std::string& model) {
  if (dir.empty() == paper.empty()) fail("give DIR (a sweep folder) or --paper BITS=FILE");
  if (paper.empty()) return SensitivityReport::load(dir);
  std::vector<std::pair<int, std::string>> files;
  for (const std::string& p : paper) {
    const size_t eq = p.find('=');
    int bits = 0;
    if (eq == std::string::npos || (p.substr(0, eq) != "4" && p.substr(0, eq) != "8"))
      fail("--paper: '{}' (expected 4=FILE or 8=FILE)", p);
    bits = std::stoi(p.substr(0, eq));
    files.emplace_back(bits, p.substr(eq + 1));
  }
  SensitivityReport r = read_paper_results(files);
  int64_t vocab = 0;
  if (!model.empty()) {
    const TensorStore store = TensorStore::open_dir(model);
    int64_t other = 0;
    for (const std::string& n : store.names()) other += shape_numel(store.get(n).shape);
    for (LayerInfo& l : r.layers) {
      const TensorInfo* w = store.find(l.name + ".weight");
      if (!w || w->shape.size() != 2) fail("{}: no 2-D weight '{}.weight' for the paper's layer", model, l.name);
      l.out_features = w->shape[0];
      l.in_features = w->shape[1];
      other -= l.out_features * l.in_features;
    }
    r.other_params = other;
    r.model = model;
    vocab = ModelConfig::load(model).vocab_size;
  }
  for (const std::string& w : paper_warnings(r, vocab)) std::fprintf(stderr, "kllens: warning: %s\n", w.c_str());
  if (vocab == 0)
    std::fprintf(stderr, "kllens: note: give --model to check KL values against log V as well\n");
  return r;
}

SweepArgs after_device_fault(const SweepArgs& a) {
  SweepArgs b = a;
  b.resume = true;
  b.backend.name = "cpu";
  return b;
}

SweepOptions sweep_options(const SweepArgs& a) {
  SweepOptions opt;
  opt.bits = parse_bits(a.bits);
  opt.group = QuantSpec::parse_group(a.group);
  opt.layers_regex = a.layers;
  opt.prefix_reuse = !a.no_prefix_reuse;
  opt.include_head = a.include_head;
  opt.ppl_ctx = a.ppl_ctx;
  opt.out_dir = a.out;
  opt.resume = a.resume;
  opt.max_probes = a.max_probes;
  opt.teacher_cache_mb = a.teacher_cache_mb;
  return opt;
}

std::string sweep_fingerprint(const SweepArgs& a, int64_t windows, int64_t T, const std::vector<int32_t>& ids,
                              const std::vector<int32_t>& ppl_tokens, int64_t vocab) {
  // Content hashes, not paths alone: weights changed in place or other calibration ids
  // must not resume onto probes computed from the old ones.
  const uint64_t h = ids_content_hash(ppl_tokens, ids_content_hash(ids));
  std::string fp = fmt::format("model={} weights={:016x} windows={} seqlen={} ids={:016x} bits={} "
                               "group={} layers={} ppl_ctx={} vocab={}",
                               std::filesystem::absolute(a.model).lexically_normal().string(),
                               weights_content_hash(a.model), windows, T, h, a.bits, a.group, a.layers,
                               ppl_tokens.empty() ? 0 : a.ppl_ctx, vocab);
  if (a.include_head) fp += " head=1";  // sweeps without the head keep their fingerprint
  return fp;
}

int64_t other_params(const std::string& model_dir, const std::vector<LayerInfo>& layers) {
  int64_t total = 0;
  const TensorStore store = open_model_files(model_dir).store;
  for (const std::string& n : store.names()) total += shape_numel(store.get(n).shape);
  for (const LayerInfo& l : layers) total -= l.out_features * l.in_features;
  return total;
}

bool run_sweep(const SweepArgs& a, Backend& be, SensitivityReport& out) {
  if (a.calib.empty() == a.calib_ids.empty()) fail("give --calib FILE or --calib-ids FILE");
  refuse_output_over_inputs("--out", a.out, {a.model, a.calib, a.calib_ids, a.ppl_text});
  const ShardSpec shard = a.shard.empty() ? ShardSpec{} : ShardSpec::parse(a.shard);
  auto model = Model::load(a.model, be);
  std::vector<int32_t> ids;
  int64_t windows = 0, T = a.seqlen;
  if (!a.calib_ids.empty()) {
    int64_t batch = 1;
    std::vector<int32_t> raw = read_ids_file(a.calib_ids, batch);
    if (batch > 1) {  // [N, T] windows as given (the first --samples of them)
      T = int64_t(raw.size()) / batch;
      windows = std::min(batch, a.samples);
      ids.assign(raw.begin(), raw.begin() + windows * T);
    } else {
      ids = sample_windows(raw, a.samples, a.seqlen, a.seed, windows);
    }
  } else {
    auto tok = load_tokenizer(a.model);
    ids = sample_windows(tok->encode(read_text(a.calib)), a.samples, a.seqlen, a.seed, windows);
  }
  SweepOptions opt = sweep_options(a);
  opt.shard_index = shard.index;
  opt.shard_count = shard.count;
  if (!a.ppl_text.empty()) {
    auto tok = load_tokenizer(a.model);
    opt.ppl_tokens = tok->encode(read_text(a.ppl_text));
    if (a.ppl_tokens > 0 && int64_t(opt.ppl_tokens.size()) > a.ppl_tokens)
      opt.ppl_tokens.resize(size_t(a.ppl_tokens));
  }
  opt.fingerprint = sweep_fingerprint(a, windows, T, ids, opt.ppl_tokens, model->config().vocab_size);
  std::filesystem::create_directories(a.out);
  ProgressBar bar("probes");
  int64_t skipped = 0;  // probes loaded from disk do not count towards the ETA
  opt.progress = [&](int64_t done, int64_t total, const Probe& p) {
    if (p.resumed) ++skipped;
    bar.update(done, total, p.key(), skipped);
  };
  opt.notice = [](const std::string& line) { std::fprintf(stderr, "kllens: %s\n", line.c_str()); };
  // More devices (--backend cpu,vulkan): one backend and model copy each, the first is `be`.
  std::vector<BackendHandle> more;
  std::vector<std::unique_ptr<Model>> copies;
  std::vector<Model*> models{model.get()};
  const std::vector<BackendOption> devices = sweep_backends(a);
  for (size_t i = 1; i < devices.size(); ++i) {
    more.push_back(devices[i].make());
    copies.push_back(Model::load(a.model, *more.back()));
    models.push_back(copies.back().get());
  }
  out = run_sensitivity(models, a.model, ids, windows, T, opt);
  out.other_params = other_params(a.model, out.layers);
  if (!out.complete) return false;
  if (a.shard.empty())
    write_sensitivity(out, a.out);
  else
    write_shard(out, opt.fingerprint, be.name(), shard, a.out);
  return true;
}

}  // namespace kllens::cli
