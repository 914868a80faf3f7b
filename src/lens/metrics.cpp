// Probe metrics from kl_reduce rows, the sensitivity report (JSON / CSV), and the choice
// of calibration windows.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/lens.h"

namespace kllens {

// ---- metrics ------------------------------------------------------------------------

ProbeMetrics metrics_from_stats(const float* stats, int64_t windows, int64_t T, int64_t V) {
  KL_CHECK(windows >= 1 && T >= 2, "metrics need at least one window of 2 tokens");
  ProbeMetrics m;
  for (int64_t w = 0; w < windows; ++w) {
    double kl_ts = 0, kl_st = 0, ce = 0, sq = 0, tt = 0, top1 = 0;
    for (int64_t t = 0; t < T; ++t) {
      const float* s = stats + (w * T + t) * kKlStats;
      kl_ts += s[0];
      kl_st += s[1];
      if (t < T - 1) ce += double(s[7]);  // positions 0..T-2 predict 1..T-1
      sq += s[4];
      tt += s[5];
      top1 += s[6];
    }
    m.kl_teacher_to_student += kl_ts / double(T);
    m.kl_student_to_teacher += kl_st / double(T);
    m.delta_cross_entropy += ce / double(T - 1);
    m.mse += sq / (double(T) * double(V));
    m.sqnr_db += sq > 0 ? 10.0 * std::log10(tt / sq) : INFINITY;
    m.top1_agreement += top1 / double(T);
  }
  const double n = double(windows);
  m.kl_teacher_to_student /= n;
  m.kl_student_to_teacher /= n;
  m.delta_cross_entropy /= n;
  m.mse /= n;
  m.sqnr_db /= n;
  m.top1_agreement /= n;
  return m;
}

ProbeMetrics metrics_stderr_from_stats(const float* stats, int64_t windows, int64_t T, int64_t V) {
  ProbeMetrics se;
  se.perplexity = NAN;
  if (windows < 2) {
    se.kl_teacher_to_student = se.kl_student_to_teacher = se.mse = se.sqnr_db = NAN;
    se.delta_cross_entropy = se.top1_agreement = NAN;
    return se;
  }
  std::vector<ProbeMetrics> per(static_cast<size_t>(windows));
  for (int64_t w = 0; w < windows; ++w)
    per[size_t(w)] = metrics_from_stats(stats + w * T * kKlStats, 1, T, V);
  const ProbeMetrics mean = metrics_from_stats(stats, windows, T, V);
  auto err = [&](double ProbeMetrics::*f) {
    double ss = 0;
    for (const ProbeMetrics& m : per) ss += (m.*f - mean.*f) * (m.*f - mean.*f);
    return std::sqrt(ss / double(windows - 1) / double(windows));
  };
  se.kl_teacher_to_student = err(&ProbeMetrics::kl_teacher_to_student);
  se.kl_student_to_teacher = err(&ProbeMetrics::kl_student_to_teacher);
  se.mse = err(&ProbeMetrics::mse);
  se.sqnr_db = err(&ProbeMetrics::sqnr_db);
  se.delta_cross_entropy = err(&ProbeMetrics::delta_cross_entropy);
  se.top1_agreement = err(&ProbeMetrics::top1_agreement);
  return se;
}

// ---- the report ---------------------------------------------------------------------

namespace {

nlohmann::ordered_json num(double x) {
  return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr);
}

// The six window metrics as an object (standard errors; null where not finite).
nlohmann::ordered_json metrics_json(const ProbeMetrics& m) {
  return {{"kl_teacher_to_student", num(m.kl_teacher_to_student)},
          {"kl_student_to_teacher", num(m.kl_student_to_teacher)},
          {"mse", num(m.mse)},
          {"sqnr_db", num(m.sqnr_db)},
          {"delta_cross_entropy", num(m.delta_cross_entropy)},
          {"top1_agreement", num(m.top1_agreement)}};
}
ProbeMetrics metrics_of_json(const nlohmann::ordered_json& j) {
  ProbeMetrics m;
  m.kl_teacher_to_student = json_double_at(j, "kl_teacher_to_student", true);
  m.kl_student_to_teacher = json_double_at(j, "kl_student_to_teacher", true);
  m.mse = json_double_at(j, "mse", true);
  m.sqnr_db = json_double_at(j, "sqnr_db", true);
  m.delta_cross_entropy = json_double_at(j, "delta_cross_entropy", true);
  m.top1_agreement = json_double_at(j, "top1_agreement", true);
  return m;
}

}  // namespace

const Probe* SensitivityReport::find(const std::string& layer, int b) const {
  for (const Probe& p : probes)
    if (p.layer == layer && p.bits == b) return &p;
  return nullptr;
}

nlohmann::ordered_json SensitivityReport::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = model;
  j["calibration"] = {{"windows", windows}, {"seqlen", seqlen}, {"tokens", windows * seqlen}};
  j["vocab_size"] = vocab;
  j["group"] = group == 0 ? nlohmann::ordered_json("channel") : nlohmann::ordered_json(group);
  j["bits"] = bits;
  j["complete"] = complete;
  j["teacher"] = {{"perplexity", num(teacher_perplexity)}};
  j["other_params"] = other_params;
  auto& L = j["layers"] = nlohmann::ordered_json::array();
  for (const LayerInfo& l : layers)
    L.push_back({{"name", l.name}, {"block", l.block}, {"out_features", l.out_features},
                 {"in_features", l.in_features}});
  for (int b : bits) {
    auto& tbl = j[std::to_string(b)] = nlohmann::ordered_json::object();
    for (const LayerInfo& l : layers) {
      const Probe* p = find(l.name, b);
      if (!p) continue;
      tbl[l.name] = {{"perplexity", num(p->m.perplexity)},
                     {"sqnr_db", num(p->m.sqnr_db)},
                     {"kl_teacher_to_student", p->m.kl_teacher_to_student},
                     {"kl_student_to_teacher", p->m.kl_student_to_teacher},
                     {"delta_cross_entropy", p->m.delta_cross_entropy},
                     {"mse", p->m.mse},
                     {"top1_agreement", p->m.top1_agreement},
                     {"stderr", metrics_json(p->se)},
                     {"backend", p->backend}};
    }
  }
  return j;
}

// Sizes are bounded before they are used (a report names at most a few thousand layers and
// windows; the limits below are far above that).
SensitivityReport SensitivityReport::from_json(const nlohmann::ordered_json& j) {
  constexpr int64_t kBig = int64_t(1) << 40;
  SensitivityReport r;
  if (!j.is_object()) fail("a sensitivity report is a JSON object, got {}", json_excerpt(j));
  r.model = json_string_at(j, "model");
  const auto& cal = json_at(j, "calibration");
  r.windows = json_int_at(cal, "windows", 1, kBig);
  r.seqlen = json_int_at(cal, "seqlen", 2, kBig);
  r.vocab = json_int_at(j, "vocab_size", 1, INT32_MAX);
  const auto& g = json_at(j, "group");
  r.group = g.is_string() && g == "channel" ? 0 : int(json_int_at(j, "group", 1, 1 << 20));
  const auto& bits = json_at(j, "bits");
  if (!bits.is_array()) fail("key 'bits' must be a list, got {}", json_excerpt(bits));
  for (const auto& b : bits) {
    const auto v = json_int(b, 2, 8);
    if (!v || (*v != 2 && *v != 3 && *v != 4 && *v != 8))
      fail("key 'bits' holds {}, not 2, 3, 4 or 8", json_excerpt(b));
    r.bits.push_back(int(*v));
  }
  r.complete = json_bool_at(j, "complete");
  r.teacher_perplexity = json_double_at(json_at(j, "teacher"), "perplexity", true);
  r.other_params = j.contains("other_params") ? json_int_at(j, "other_params", 0, kBig << 8) : 0;
  const auto& layers = json_at(j, "layers");
  if (!layers.is_array()) fail("key 'layers' must be a list, got {}", json_excerpt(layers));
  for (const auto& l : layers)
    r.layers.push_back({json_string_at(l, "name"), json_int_at(l, "block", 0, 1 << 20),
                        json_int_at(l, "out_features", 1, 1 << 24),
                        json_int_at(l, "in_features", 1, 1 << 24)});
  for (const LayerInfo& l : r.layers)
    for (int b : r.bits) {
      const auto& tbl = json_at(j, std::to_string(b));
      if (!tbl.is_object() || !tbl.contains(l.name)) continue;
      const auto& e = tbl.at(l.name);
      try {
        Probe p;
        p.layer = l.name;
        p.block = l.block;
        p.bits = b;
        p.m.perplexity = json_double_at(e, "perplexity", true);
        p.m.sqnr_db = json_double_at(e, "sqnr_db", true);
        p.m.kl_teacher_to_student = json_double_at(e, "kl_teacher_to_student");
        p.m.kl_student_to_teacher = json_double_at(e, "kl_student_to_teacher");
        p.m.delta_cross_entropy = json_double_at(e, "delta_cross_entropy");
        p.m.mse = json_double_at(e, "mse");
        p.m.top1_agreement = json_double_at(e, "top1_agreement");
        if (e.contains("stderr")) p.se = metrics_of_json(e.at("stderr"));
        p.backend = e.contains("backend") ? json_string_at(e, "backend") : std::string();
        r.probes.push_back(p);
      } catch (const Error& err) {
        fail("probe {}@{}: {}", excerpt(l.name), b, err.what());
      }
    }
  return r;
}

std::string SensitivityReport::to_csv() const {
  std::string s =
      "layer,block,bits,group,kl_teacher_to_student,kl_student_to_teacher,mse,sqnr_db,"
      "delta_cross_entropy,top1_agreement,perplexity\n";
  for (const Probe& p : probes)
    s += fmt::format("{},{},{},{},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{}\n", p.layer,
                     p.block, p.bits, group == 0 ? std::string("channel") : std::to_string(group),
                     p.m.kl_teacher_to_student, p.m.kl_student_to_teacher, p.m.mse, p.m.sqnr_db,
                     p.m.delta_cross_entropy, p.m.top1_agreement,
                     std::isfinite(p.m.perplexity) ? fmt::format("{:.17g}", p.m.perplexity) : "");
  return s;
}

SensitivityReport SensitivityReport::load(const std::string& dir) {
  const std::string path = dir + "/sensitivity.json";
  const auto j = read_ordered_json_file(path);
  try {
    return from_json(j);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

void write_sensitivity(const SensitivityReport& r, const std::string& dir) {
  write_file_atomic(dir + "/sensitivity.json", r.to_json().dump(2) + "\n");
  write_file_atomic(dir + "/sensitivity.csv", r.to_csv());
}

// ---- calibration windows ------------------------------------------------------------

std::vector<int32_t> sample_windows(const std::vector<int32_t>& tokens, int64_t samples,
                                    int64_t seqlen, uint64_t seed, int64_t& windows) {
  KL_CHECK(samples >= 1 && seqlen >= 2, "need samples ≥ 1 and seqlen ≥ 2");
  const int64_t slots = int64_t(tokens.size()) / seqlen;
  if (slots == 0)
    fail("calibration text has {} tokens, fewer than one window of {} (--seqlen)", tokens.size(),
         seqlen);
  std::vector<int64_t> pick(static_cast<size_t>(slots));
  std::iota(pick.begin(), pick.end(), 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = slots - 1; i > 0; --i) {  // Fisher–Yates with a portable draw
    const int64_t j = int64_t(rng() % uint64_t(i + 1));
    std::swap(pick[size_t(i)], pick[size_t(j)]);
  }
  windows = std::min(samples, slots);
  pick.resize(size_t(windows));
  std::sort(pick.begin(), pick.end());
  std::vector<int32_t> ids;
  ids.reserve(size_t(windows * seqlen));
  for (int64_t s : pick)
    ids.insert(ids.end(), tokens.begin() + s * seqlen, tokens.begin() + (s + 1) * seqlen);
  return ids;
}

}  // namespace kllens
