// kllens robustness MODEL --calib FILE --eval FILE [--ood FILE] [--fractions 0.05,0.1,0.25,1]
//   [-o DIR] [sweep options]
// Do the rankings survive small or out-of-domain calibration sets? (docs/lens.md)
//   DIR/full/            the sweep over all --samples windows of --calib, with every probe's
//                        perplexity on the first --eval-tokens of --eval (the damage);
//   DIR/windows-K/       the sweep over the first K of those windows (K = round(f · windows),
//                        at least 1, one per fraction below 1): nested subsets;
//   DIR/ood/             with --ood, the sweep over as many windows of another text;
//   DIR/robustness.json, DIR/robustness.md  per set: each metric's τ against the damage (with
//                        bootstrap intervals), its KL ordering against the full set's, and the
//                        layers whose plan assignment changes (src/lens/robustness.cpp).
// The damage does not depend on the calibration: it is measured once, in the full sweep, and
// the other sweeps run their calibration windows only. Each sweep folder is an ordinary
// resumable sweep (--resume keeps its probes; probes/sweep.json holds its fingerprint).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "lens_cli.h"

namespace kllens::cli {

namespace {

struct RobustArgs {
  SweepArgs sweep;
  std::string ood, eval, fractions = "0.05,0.1,0.25,1", budgets = "5,6,7";
  int64_t eval_tokens = 4096, ctx = 256;
  int points = 10;
};

// "0.05,0.1,1" → ascending, each in (0, 1], none twice.
std::vector<double> parse_fractions(const std::string& list) {
  std::vector<double> out;
  size_t at = 0;
  while (at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string item = list.substr(at, comma - at);
    size_t used = 0;
    double f = NAN;
    try {
      f = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || !(f > 0 && f <= 1))
      fail("--fractions: '{}' is not a fraction in (0, 1]", excerpt(item));
    if (!out.empty() && f <= out.back()) fail("--fractions: give them ascending, each once ({} after {})", f, out.back());
    out.push_back(f);
    at = comma + 1;
  }
  return out;
}

std::vector<double> parse_budgets(const std::string& list) {
  std::vector<double> out;
  for (int32_t b : parse_ids(list, "--budget-bpw")) {
    if (b < 1 || b > 16) fail("--budget-bpw: {} (expected 1..16 bits per weight)", b);
    out.push_back(double(b));
  }
  return out;
}

void run_robustness(const RobustArgs& a) {
  namespace fs = std::filesystem;
  const SweepArgs& s = a.sweep;
  refuse_output_over_inputs("--out", s.out, {s.model, s.calib, a.ood, a.eval});
  const std::vector<double> fractions = parse_fractions(a.fractions);
  RobustnessOptions ropt;
  ropt.points = a.points;
  ropt.budgets_bpw = parse_budgets(a.budgets);
  parse_bits(s.bits);  // refused before anything runs

  BackendHandle be = s.backend.make();
  auto model = Model::load(s.model, *be);
  const auto tok = load_tokenizer(s.model);
  const int64_t T = s.seqlen, V = model->config().vocab_size;
  int64_t windows = 0, ood_windows = 0;
  const std::vector<int32_t> ids = sample_windows(tok->encode(read_text(s.calib)), s.samples, T, s.seed, windows);
  std::vector<int32_t> ood_ids;
  if (!a.ood.empty()) ood_ids = sample_windows(tok->encode(read_text(a.ood)), windows, T, s.seed, ood_windows);
  std::vector<int32_t> eval = tok->encode(read_text(a.eval));
  if (a.eval_tokens > 0 && int64_t(eval.size()) > a.eval_tokens) eval.resize(size_t(a.eval_tokens));
  if (int64_t(eval.size()) < 2) fail("{}: fewer than 2 tokens to measure perplexity on", a.eval);

  // One ordinary sweep into DIR/<name> (resumable), with perplexity only when `ppl` is given.
  auto sweep = [&](const std::string& name, const std::vector<int32_t>& w_ids, int64_t w,
                   const std::vector<int32_t>& ppl) {
    SweepArgs sa = s;
    sa.out = s.out + "/" + name;
    sa.ppl_ctx = a.ctx;
    SweepOptions opt = sweep_options(sa);
    opt.ppl_tokens = ppl;
    opt.fingerprint = sweep_fingerprint(sa, w, T, w_ids, ppl, V);
    fs::create_directories(sa.out);
    fmt::print(stderr, "== {}: {} windows × {} tokens{}\n", name, w, T,
               ppl.empty() ? std::string() : fmt::format(", perplexity on {} eval tokens", ppl.size()));
    ProgressBar bar(name);
    int64_t skipped = 0;
    opt.progress = [&](int64_t done, int64_t total, const Probe& p) {
      if (p.resumed) ++skipped;
      bar.update(done, total, p.key(), skipped);
    };
    SensitivityReport r = run_sensitivity(*model, s.model, w_ids, w, T, opt);
    r.other_params = other_params(s.model, r.layers);
    write_sensitivity(r, sa.out);
    return r;
  };

  const SensitivityReport full = sweep("full", ids, windows, eval);
  std::vector<RobustnessRow> rows;
  std::map<int64_t, SensitivityReport> subsets;  // by window count: fractions may share one
  nlohmann::ordered_json sets = nlohmann::ordered_json::object();
  for (double f : fractions) {
    const int64_t k = std::clamp<int64_t>(std::llround(f * double(windows)), 1, windows);
    const std::string name = fmt::format("f{:g}", f);
    if (k == windows) {
      rows.push_back(robustness_row(full, full, name, "subset", f, ropt));
      sets[name] = "full";
      continue;
    }
    const std::string dir = fmt::format("windows-{}", k);
    if (!subsets.count(k)) {
      const std::vector<int32_t> sub(ids.begin(), ids.begin() + k * T);  // the first k windows
      subsets[k] = sweep(dir, sub, k, {});
      attach_perplexity(subsets[k], full);
    }
    rows.push_back(robustness_row(full, subsets.at(k), name, "subset", f, ropt));
    sets[name] = dir;
  }
  if (!a.ood.empty()) {
    SensitivityReport ood = sweep("ood", ood_ids, ood_windows, {});
    attach_perplexity(ood, full);
    rows.push_back(robustness_row(full, ood, "ood", "ood", NAN, ropt));
    sets["ood"] = "ood";
  }

  nlohmann::ordered_json header;
  header["model"] = s.model;
  header["calibration"] = {{"file", s.calib}, {"windows", windows}, {"seqlen", T}, {"seed", s.seed}};
  header["ood"] = a.ood.empty() ? nlohmann::ordered_json(nullptr)
                                : nlohmann::ordered_json{{"file", a.ood}, {"windows", ood_windows}, {"seqlen", T}};
  header["eval"] = {{"file", a.eval}, {"tokens", eval.size()}, {"ctx", a.ctx}};
  header["bits"] = full.bits;
  header["group"] = full.group == 0 ? std::string("channel") : std::to_string(full.group);
  header["layers"] = full.layers.size();
  header["fractions"] = fractions;
  header["points"] = a.points;
  header["budgets_bpw"] = ropt.budgets_bpw;
  header["teacher"] = {{"perplexity", full.teacher_perplexity}};
  header["sweeps"] = sets;
  write_file_atomic(s.out + "/robustness.json", robustness_json(header, rows).dump(2) + "\n");
  const std::string intro = fmt::format(
      "Model `{}`; calibration `{}`: {} windows × {} tokens (seed {}), nested subsets = the first K "
      "windows; {}damage = perplexity of each single-layer probe model on the first {} tokens of `{}` "
      "(ctx {}), measured once in the full sweep. {} layers × bits {{{}}}, grouping {}.",
      s.model, s.calib, windows, T, s.seed,
      a.ood.empty() ? std::string() : fmt::format("out of domain: `{}`, {} windows; ", a.ood, ood_windows),
      eval.size(), a.eval, a.ctx, full.layers.size(), fmt::join(full.bits, ", "), header["group"].get<std::string>());
  const std::string md = robustness_markdown(intro, rows);
  write_file_atomic(s.out + "/robustness.md", md);
  fmt::print("{}\nwrote {}/robustness.json and robustness.md\n", md, s.out);
}

}  // namespace

void register_robustness(CLI::App& app) {
  auto a = std::make_shared<RobustArgs>();
  SweepArgs& s = a->sweep;
  s.samples = 20;  // small defaults: a few minutes on tiny-mamba on 2 cores
  s.seqlen = 128;
  s.out = "robustness";
  auto* cmd = app.add_subcommand(
      "robustness", "Do the rankings survive small or out-of-domain calibration sets? (nested subsets, --ood)");
  cmd->add_option("MODEL", s.model, "Hugging Face model folder")->required();
  cmd->add_option("-o,--out", s.out, "Output folder")->capture_default_str();
  cmd->add_option("--calib", s.calib, "Calibration text (the full set: --samples windows of --seqlen)")->required();
  cmd->add_option("--ood", a->ood, "Out-of-domain calibration text (as many windows as the full set)");
  cmd->add_option("--eval", a->eval, "Held-out text: the damage (probe perplexity)")->required();
  cmd->add_option("--fractions", a->fractions, "Nested subsets: fractions of the windows, ascending")
      ->capture_default_str();
  cmd->add_option("--eval-tokens", a->eval_tokens, "Perplexity on the first N eval tokens (0 = all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--ctx", a->ctx, "Perplexity window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--points", a->points, "Cut-off plans compared")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--budget-bpw", a->budgets, "Size-budget plans compared, bits per linear weight")->capture_default_str();
  cmd->add_option("--samples", s.samples, "Calibration windows of the full set")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seqlen", s.seqlen, "Tokens per window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--seed", s.seed, "Seed of the window choice")->capture_default_str();
  cmd->add_option("--bits", s.bits, "Bit widths to probe (2, 3, 4, 8; 2 and 3 probe-only)")->capture_default_str();
  cmd->add_option("--group", s.group, "Quantisation grouping: channel, 32, 64 or 128")
      ->capture_default_str()->check(CLI::IsMember({"channel", "32", "64", "128"}));
  cmd->add_option("--layers", s.layers, "Only layers whose name matches this regex");
  cmd->add_option("--teacher-cache-mb", s.teacher_cache_mb,
                  "Keep the teacher's logits when they fit, else recompute them")->capture_default_str();
  cmd->add_flag("--resume", s.resume, "Keep the probes a previous run saved in each sweep folder");
  s.backend.add_to(cmd);
  cmd->callback([a] { run_robustness(*a); });
}

}  // namespace kllens::cli
