// The per-layer sensitivity sweep (include/kllens/lens.h): the probe files that make a
// sweep resumable, this shard's probes, and the hand-over to the devices
// (sweep_queue.h; each device's teacher pass and probes are in sweep_worker.h).
#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/lens.h"
#include "kllens/perplexity.h"
#include "sweep_queue.h"

namespace kllens {

namespace fs = std::filesystem;

namespace {

// A probe file: the probe, and "checksum", the XXH3 of the probe's own JSON text (without
// the checksum). A file whose numbers were edited by hand, or cut short, is refused.
nlohmann::ordered_json probe_json(const Probe& p) {
  auto num = [](double x) {
    return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr);
  };
  return {{"layer", p.layer},
          {"block", p.block},
          {"bits", p.bits},
          {"metrics",
           {{"kl_teacher_to_student", p.m.kl_teacher_to_student},
            {"kl_student_to_teacher", p.m.kl_student_to_teacher},
            {"mse", p.m.mse},
            {"sqnr_db", num(p.m.sqnr_db)},
            {"delta_cross_entropy", p.m.delta_cross_entropy},
            {"top1_agreement", p.m.top1_agreement},
            {"perplexity", num(p.m.perplexity)}}},
          {"stderr",
           {{"kl_teacher_to_student", num(p.se.kl_teacher_to_student)},
            {"kl_student_to_teacher", num(p.se.kl_student_to_teacher)},
            {"mse", num(p.se.mse)},
            {"sqnr_db", num(p.se.sqnr_db)},
            {"delta_cross_entropy", num(p.se.delta_cross_entropy)},
            {"top1_agreement", num(p.se.top1_agreement)}}},
          {"backend", p.backend},
          {"seconds", p.seconds}};
}

std::string probe_file_text(const Probe& p) {
  nlohmann::ordered_json j = probe_json(p);
  j["checksum"] = checksum_hex(j.dump());
  return j.dump(2) + "\n";
}

}  // namespace

Probe read_probe_file(const std::string& path) {
  return parse_probe_file(read_file(path, kJsonMaxBytes), path);
}

Probe parse_probe_file(std::string_view text, const std::string& path) {
  const auto j = parse_ordered_json(text, path);
  Probe p;
  std::string saved;
  try {
    p.layer = json_string_at(j, "layer");
    p.block = json_int_at(j, "block", 0, 1 << 20);
    p.bits = int(json_int_at(j, "bits", 2, 8));
    const auto& m = json_at(j, "metrics");
    p.m.kl_teacher_to_student = json_double_at(m, "kl_teacher_to_student");
    p.m.kl_student_to_teacher = json_double_at(m, "kl_student_to_teacher");
    p.m.mse = json_double_at(m, "mse");
    p.m.sqnr_db = json_double_at(m, "sqnr_db", true);
    p.m.delta_cross_entropy = json_double_at(m, "delta_cross_entropy");
    p.m.top1_agreement = json_double_at(m, "top1_agreement");
    p.m.perplexity = json_double_at(m, "perplexity", true);
    p.seconds = json_double_at(j, "seconds");
    const auto& se = json_at(j, "stderr");
    p.se.kl_teacher_to_student = json_double_at(se, "kl_teacher_to_student", true);
    p.se.kl_student_to_teacher = json_double_at(se, "kl_student_to_teacher", true);
    p.se.mse = json_double_at(se, "mse", true);
    p.se.sqnr_db = json_double_at(se, "sqnr_db", true);
    p.se.delta_cross_entropy = json_double_at(se, "delta_cross_entropy", true);
    p.se.top1_agreement = json_double_at(se, "top1_agreement", true);
    p.backend = json_string_at(j, "backend");
    saved = json_string_at(j, "checksum");
  } catch (const Error& e) {
    fail("{}: malformed probe file ({}); delete it and run again with --resume", path, e.what());
  }
  // nlohmann prints doubles in their shortest round-trip form, so the text re-made from
  // the parsed values is the text that was hashed.
  const std::string now = checksum_hex(probe_json(p).dump());
  if (saved != now)
    fail("{}: checksum {} does not match the probe's contents ({}): the file was changed; "
         "delete it and run again with --resume", path, excerpt(saved), now);
  return p;
}

std::string parse_sweep_fingerprint(std::string_view text, const std::string& path) {
  const auto j = parse_json(text, path);
  try {
    return json_string_at(j, "fingerprint");
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

namespace {

// DIR/probes with its fingerprint: kept and checked on resume, started afresh otherwise.
void prepare_probe_dir(const SweepOptions& opt) {
  const fs::path dir = fs::path(opt.out_dir) / "probes";
  const fs::path fp = dir / "sweep.json";
  if (opt.resume && fs::exists(fp)) {
    const std::string saved = parse_sweep_fingerprint(read_file(fp.string(), kJsonMaxBytes), fp.string());
    if (saved != opt.fingerprint)
      fail("{}: --resume with different model, weights, calibration or options than the saved "
           "sweep (saved: {}; now: {})", fp.string(), excerpt(saved), opt.fingerprint);
    return;
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_file_atomic(fp.string(), nlohmann::json{{"fingerprint", opt.fingerprint}}.dump(2) + "\n");
}

}  // namespace

SensitivityReport run_sensitivity(Model& model, const std::string& model_name,
                                  const std::vector<int32_t>& ids, int64_t windows,
                                  int64_t seqlen, const SweepOptions& opt) {
  return run_sensitivity(std::vector<Model*>{&model}, model_name, ids, windows, seqlen, opt);
}

SensitivityReport run_sensitivity(const std::vector<Model*>& models, const std::string& model_name,
                                  const std::vector<int32_t>& ids, int64_t windows,
                                  int64_t seqlen, const SweepOptions& opt) {
  KL_CHECK(!models.empty(), "run_sensitivity: no model");
  Model& model = *models.front();
  const int64_t T = seqlen, V = model.config().vocab_size, L = model.config().num_layers;
  KL_CHECK(T >= 2 && windows >= 1 && int64_t(ids.size()) == windows * T,
           "calibration: {} ids for {} windows of {}", ids.size(), windows, T);
  for (int b : opt.bits) QuantSpec{b, opt.group}.validate();

  SensitivityReport rep;
  rep.model = model_name;
  rep.windows = windows;
  rep.seqlen = T;
  rep.vocab = V;
  rep.group = opt.group;
  rep.bits = opt.bits;
  const std::regex re(opt.layers_regex.empty() ? std::string(".*") : opt.layers_regex);
  for (const LinearLayer& l : model.linear_layers(opt.include_head))
    if (std::regex_search(l.name, re))
      rep.layers.push_back({l.name, l.block, l.weight->out_features(), l.weight->in_features()});
  if (rep.layers.empty()) fail("--layers '{}' matches no linear layer", opt.layers_regex);

  // ---- saved probes -------------------------------------------------------------------
  const bool save = !opt.out_dir.empty();
  if (save) prepare_probe_dir(opt);
  auto probe_path = [&](const std::string& layer, int b) {
    return (fs::path(opt.out_dir) / "probes" / (layer + "@" + std::to_string(b) + ".json")).string();
  };

  // ---- this shard's probes (all of them unless --shard), in report order ---------------
  std::vector<double> costs;
  const double ppl_passes = opt.ppl_tokens.empty() ? 0.0 : double(L + 1) * double(opt.ppl_tokens.size()) / double(windows * T);
  for (const LayerInfo& l : rep.layers)
    for (size_t k = 0; k < opt.bits.size(); ++k)
      costs.push_back(double(L - model.resume_block(l.block) + 1) + ppl_passes);
  const std::vector<int> owner = shard_owners(costs, opt.shard_count);
  std::vector<std::optional<Probe>> slot;  // this shard's probes, filled as they finish
  std::vector<ProbeTask> todo;             // the ones still to run
  std::vector<size_t> todo_slot;
  int64_t done = 0;
  size_t probe_index = 0;
  for (const LayerInfo& l : rep.layers)
    for (int b : opt.bits) {
      if (owner[probe_index++] != opt.shard_index) continue;
      slot.emplace_back();
      if (save && opt.resume && fs::exists(probe_path(l.name, b))) {
        const std::string path = probe_path(l.name, b);
        Probe p = read_probe_file(path);
        KL_CHECK(p.layer == l.name && p.bits == b, "{}: holds {}@{}", path, p.layer, p.bits);
        p.resumed = true;
        slot.back() = p;
        continue;
      }
      todo.push_back({l.name, b});
      todo_slot.push_back(slot.size() - 1);
    }
  const int64_t total = int64_t(slot.size());
  for (const auto& s : slot)
    if (s && opt.progress) opt.progress(++done, total, *s);
  if (opt.max_probes >= 0 && int64_t(todo.size()) > opt.max_probes) {
    todo.resize(size_t(opt.max_probes));
    rep.complete = false;
  }

  // ---- teacher and probes, on every device --------------------------------------------
  if (!opt.ppl_tokens.empty())
    rep.teacher_perplexity = perplexity(model, opt.ppl_tokens, opt.ppl_ctx).ppl();
  std::set<int64_t> restart;
  for (const ProbeTask& t : todo)
    for (const LayerInfo& l : rep.layers)
      if (l.name == t.layer) restart.insert(model.resume_block(l.block));
  run_probe_queue(models, ids, windows, T, opt, restart, todo, [&](size_t i, Probe p) {
    if (save) write_file_atomic(probe_path(p.layer, p.bits), probe_file_text(p));
    slot[todo_slot[i]] = p;
    if (opt.progress) opt.progress(++done, total, p);
  });
  for (auto& s : slot)
    if (s) rep.probes.push_back(std::move(*s));
  return rep;
}

}  // namespace kllens
