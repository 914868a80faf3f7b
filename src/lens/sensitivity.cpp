// The per-layer sensitivity sweep (include/kllens/lens.h).
//
// Memory plan, per chunk of calibration windows (rows = windows·T):
//   residual[b]   [rows(+meta), H]   the stream entering every block a probe restarts from
//   teacher       [rows, V]          kept when all chunks fit opt.teacher_cache_mb, else
//                                    recomputed per probe from the cached stream entering
//                                    the last block (one block + the head)
//   student       [rows, V], stats [rows, kKlStats], targets I32 [rows]  (shared)
// Windows per chunk: as many as keep one [rows, V] logits buffer within 256 MiB.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/lens.h"
#include "kllens/perplexity.h"

namespace kllens {

namespace fs = std::filesystem;

namespace {

struct Chunk {
  int64_t nb = 0;                       // windows in this chunk
  std::vector<int32_t> ids;             // [nb·T]
  Tensor targets;                       // I32 [nb·T]: next token, −1 at the last position
  Tensor teacher;                       // F32 [nb·T, V] or empty (recomputed)
  std::map<int64_t, Tensor> residual;   // block → stream entering it
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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
          {"seconds", p.seconds}};
}

Probe probe_from_json(const std::string& path) {
  try {
    const auto j = nlohmann::ordered_json::parse(read_file(path));
    auto num = [](const nlohmann::ordered_json& v) { return v.is_null() ? NAN : v.get<double>(); };
    Probe p;
    p.layer = j.at("layer").get<std::string>();
    p.block = j.at("block").get<int64_t>();
    p.bits = j.at("bits").get<int>();
    const auto& m = j.at("metrics");
    p.m.kl_teacher_to_student = m.at("kl_teacher_to_student").get<double>();
    p.m.kl_student_to_teacher = m.at("kl_student_to_teacher").get<double>();
    p.m.mse = m.at("mse").get<double>();
    p.m.sqnr_db = num(m.at("sqnr_db"));
    p.m.delta_cross_entropy = m.at("delta_cross_entropy").get<double>();
    p.m.top1_agreement = m.at("top1_agreement").get<double>();
    p.m.perplexity = num(m.at("perplexity"));
    p.seconds = j.at("seconds").get<double>();
    return p;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed probe file ({}); delete it and run again with --resume", path, e.what());
  }
}

// DIR/probes with its fingerprint: kept and checked on resume, started afresh otherwise.
void prepare_probe_dir(const SweepOptions& opt) {
  const fs::path dir = fs::path(opt.out_dir) / "probes";
  const fs::path fp = dir / "sweep.json";
  if (opt.resume && fs::exists(fp)) {
    const auto j = nlohmann::json::parse(read_file(fp.string()));
    if (j.value("fingerprint", "") != opt.fingerprint)
      fail("{}: --resume with different model, calibration or options than the saved sweep "
           "(saved: {}; now: {})", fp.string(), j.value("fingerprint", ""), opt.fingerprint);
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
  Backend& be = model.backend();
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
  std::vector<LinearLayer> layers;
  const std::regex re(opt.layers_regex.empty() ? std::string(".*") : opt.layers_regex);
  for (const LinearLayer& l : model.linear_layers(opt.include_head))
    if (std::regex_search(l.name, re)) {
      layers.push_back(l);
      rep.layers.push_back({l.name, l.block, l.weight->out_features(), l.weight->in_features()});
    }
  if (layers.empty()) fail("--layers '{}' matches no linear layer", opt.layers_regex);

  // ---- saved probes -------------------------------------------------------------------
  const bool save = !opt.out_dir.empty();
  if (save) prepare_probe_dir(opt);
  auto probe_path = [&](const std::string& layer, int b) {
    return (fs::path(opt.out_dir) / "probes" / (layer + "@" + std::to_string(b) + ".json")).string();
  };

  // ---- teacher pass -------------------------------------------------------------------
  std::set<int64_t> need;
  for (const LinearLayer& l : layers) need.insert(model.resume_block(l.block));
  const int64_t last_first = model.resume_block(L - 1);
  const int64_t per_chunk =
      std::clamp<int64_t>((int64_t(256) << 20) / std::max<int64_t>(1, T * V * 4), 1, windows);
  const bool cache_teacher = double(windows * T) * double(V) * 4.0 <= opt.teacher_cache_mb * 1048576.0;
  if (!cache_teacher) need.insert(last_first);

  std::vector<Chunk> chunks;
  for (int64_t w0 = 0; w0 < windows; w0 += per_chunk) {
    Chunk c;
    c.nb = std::min(per_chunk, windows - w0);
    c.ids.assign(ids.begin() + w0 * T, ids.begin() + (w0 + c.nb) * T);
    std::vector<int32_t> tg(c.ids.size());
    for (int64_t i = 0; i < c.nb * T; ++i) tg[size_t(i)] = i % T == T - 1 ? -1 : c.ids[size_t(i + 1)];
    c.targets = be.alloc(DType::I32, {c.nb * T});
    be.upload(c.targets, tg.data());
    chunks.push_back(std::move(c));
  }
  const int64_t max_rows = per_chunk * T;
  const Tensor student = be.alloc(DType::F32, {max_rows, V});
  const Tensor stats = be.alloc(DType::F32, {max_rows, kKlStats});
  const Tensor teacher_scratch = cache_teacher ? Tensor{} : be.alloc(DType::F32, {max_rows, V});

  for (Chunk& c : chunks) {
    const int64_t rows = c.nb * T;
    const Tensor out = cache_teacher ? be.alloc(DType::F32, {rows, V}) : teacher_scratch.slice_rows(0, rows);
    auto state = model.new_state(c.nb);
    model.forward(c.ids, c.nb, T, *state, out, [&](int64_t index, const Tensor& h) {
      if (!need.count(index)) return;
      Tensor keep = be.alloc(DType::F32, {h.rows(), h.cols()});
      be.copy(h, keep);
      c.residual[index] = keep;
    });
    if (cache_teacher) c.teacher = out;
  }
  if (!opt.ppl_tokens.empty())
    rep.teacher_perplexity = perplexity(model, opt.ppl_tokens, opt.ppl_ctx).ppl();

  // ---- probes -------------------------------------------------------------------------
  const int64_t total = int64_t(layers.size() * opt.bits.size());
  int64_t done = 0, fresh = 0;
  std::vector<float> host(static_cast<size_t>(windows * T * kKlStats));
  for (const LinearLayer& l : layers)
    for (int b : opt.bits) {
      const std::string path = save ? probe_path(l.name, b) : std::string();
      if (save && opt.resume && fs::exists(path)) {
        Probe p = probe_from_json(path);
        KL_CHECK(p.layer == l.name && p.bits == b, "{}: holds {}@{}", path, p.layer, p.bits);
        p.resumed = true;
        rep.probes.push_back(p);
        if (opt.progress) opt.progress(++done, total, p);
        continue;
      }
      if (opt.max_probes >= 0 && fresh >= opt.max_probes) {
        rep.complete = false;
        return rep;
      }
      const auto t0 = std::chrono::steady_clock::now();
      const Weight q = quantize_weight(be, *l.weight, {b, opt.group});
      const int64_t first = model.resume_block(l.block);
      // A tied head is also the embedding: no stored prefix is free of it.
      const bool full = !opt.prefix_reuse || (l.block == L && model.config().tie_word_embeddings);
      int64_t row0 = 0;
      for (Chunk& c : chunks) {
        const int64_t rows = c.nb * T;
        Tensor teacher = c.teacher;
        if (teacher.empty()) {  // recompute: the last block and the head, unquantised
          teacher = teacher_scratch.slice_rows(0, rows);
          model.forward_from(last_first, c.residual.at(last_first), c.nb, T, teacher);
        }
        const Tensor s = student.slice_rows(0, rows);
        {
          WeightSwap swap(l.weight, q);
          if (!full) {
            model.forward_from(first, c.residual.at(first), c.nb, T, s);
          } else {
            auto state = model.new_state(c.nb);
            model.forward(c.ids, c.nb, T, *state, s);
          }
        }
        const Tensor st = stats.slice_rows(0, rows);
        be.kl_reduce(teacher, s, c.targets, st);
        be.download(st, host.data() + row0 * kKlStats);
        row0 += rows;
      }
      Probe p;
      p.layer = l.name;
      p.block = l.block;
      p.bits = b;
      p.m = metrics_from_stats(host.data(), windows, T, V);
      if (!opt.ppl_tokens.empty()) {
        WeightSwap swap(l.weight, q);
        p.m.perplexity = perplexity(model, opt.ppl_tokens, opt.ppl_ctx).ppl();
      }
      p.seconds = seconds_since(t0);
      if (save) write_file_atomic(path, probe_json(p).dump(2) + "\n");
      rep.probes.push_back(p);
      ++fresh;
      if (opt.progress) opt.progress(++done, total, p);
    }
  return rep;
}

}  // namespace kllens
