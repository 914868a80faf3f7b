// Shared pieces of the lens subcommands (see lens_cli.h).
#include "lens_cli.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "kllens/error.h"
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
    if (v != 4 && v != 8) fail("--bits: {} (expected 4 and/or 8)", v);
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
  cmd->add_option("--bits", a.bits, "Bit widths to probe")->capture_default_str();
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
  cmd->add_option("--max-probes", a.max_probes, "Stop after N new probes (tests of --resume)")->group("");
  a.backend.add_to(cmd);
}

namespace {

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

bool run_sweep(const SweepArgs& a, Backend& be, SensitivityReport& out) {
  if (a.calib.empty() == a.calib_ids.empty()) fail("give --calib FILE or --calib-ids FILE");
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
  if (!a.ppl_text.empty()) {
    auto tok = load_tokenizer(a.model);
    opt.ppl_tokens = tok->encode(read_text(a.ppl_text));
    if (a.ppl_tokens > 0 && int64_t(opt.ppl_tokens.size()) > a.ppl_tokens)
      opt.ppl_tokens.resize(size_t(a.ppl_tokens));
  }
  uint64_t h = fnv1a(ids.data(), ids.size() * 4);
  h = fnv1a(opt.ppl_tokens.data(), opt.ppl_tokens.size() * 4, h);
  opt.fingerprint = fmt::format("model={} windows={} seqlen={} ids={:016x} bits={} group={} layers={} "
                                "ppl_ctx={} vocab={}",
                                std::filesystem::absolute(a.model).lexically_normal().string(),
                                windows, T, h, a.bits, a.group, a.layers, opt.ppl_tokens.empty() ? 0 : a.ppl_ctx,
                                model->config().vocab_size);
  if (a.include_head) opt.fingerprint += " head=1";  // sweeps without the head keep their fingerprint
  std::filesystem::create_directories(a.out);
  ProgressBar bar("probes");
  int64_t skipped = 0;  // probes loaded from disk do not count towards the ETA
  opt.progress = [&](int64_t done, int64_t total, const Probe& p) {
    if (p.resumed) ++skipped;
    bar.update(done, total, p.key(), skipped);
  };
  out = run_sensitivity(*model, a.model, ids, windows, T, opt);
  int64_t total = 0;
  const TensorStore store = TensorStore::open_dir(a.model);
  for (const std::string& n : store.names()) total += shape_numel(store.get(n).shape);
  for (const LayerInfo& l : out.layers) total -= l.out_features * l.in_features;
  out.other_params = total;
  if (!out.complete) return false;
  write_sensitivity(out, a.out);
  return true;
}

}  // namespace kllens::cli
