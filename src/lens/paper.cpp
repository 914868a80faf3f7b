// Results in the paper's JSON layout (include/kllens/lens.h): one file per bit width,
// {layer: {perplexity, sqnr_db, kl_teacher_to_student, kl_student_to_teacher,
// delta_cross_entropy}}, read into a SensitivityReport so that rank, allocate and the plots
// work on them; plus the plausibility checks their values need.
#include <cmath>
#include <regex>

#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/lens.h"

namespace kllens {

namespace {

double field(const nlohmann::ordered_json& e, const char* name, const std::string& where, bool required) {
  if (!e.contains(name) || e.at(name).is_null()) {
    if (required) fail("{}: no '{}'", where, name);
    return NAN;
  }
  if (!e.at(name).is_number()) fail("{}: '{}' is not a number", where, name);
  return e.at(name).get<double>();
}

}  // namespace

SensitivityReport read_paper_results(const std::vector<std::pair<int, std::string>>& files) {
  if (files.empty()) fail("no paper-layout files given");
  SensitivityReport r;
  r.model = "paper layout: " + files.front().second;
  const std::regex block_re(R"((?:^|\.)layers\.(\d+)\.)");
  for (const auto& [bits, path] : files) {
    for (int b : r.bits)
      if (b == bits) fail("{}: a second file for {}-bit probes", path, bits);
    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: malformed JSON: {}", path, e.what());
    }
    if (!j.is_object() || j.empty()) fail("{}: expected an object {{layer: {{perplexity, ...}}}}", path);
    r.bits.push_back(bits);
    for (const auto& [layer, e] : j.items()) {
      const std::string where = fmt::format("{}: {}", path, layer);
      if (!e.is_object()) fail("{}: expected an object of metrics", where);
      const LayerInfo* known = nullptr;
      for (const LayerInfo& l : r.layers)
        if (l.name == layer) known = &l;
      if (!known) {
        std::smatch m;
        const int64_t block = std::regex_search(layer, m, block_re) ? std::stoll(m[1].str()) : 0;
        r.layers.push_back({layer, block, 0, 0});
        known = &r.layers.back();
      }
      Probe p;
      p.layer = layer;
      p.block = known->block;
      p.bits = bits;
      p.m.perplexity = field(e, "perplexity", where, true);
      p.m.sqnr_db = field(e, "sqnr_db", where, false);
      p.m.kl_teacher_to_student = field(e, "kl_teacher_to_student", where, false);
      p.m.kl_student_to_teacher = field(e, "kl_student_to_teacher", where, false);
      p.m.delta_cross_entropy = field(e, "delta_cross_entropy", where, false);
      p.m.mse = field(e, "mse", where, false);
      p.m.top1_agreement = field(e, "top1_agreement", where, false);
      r.probes.push_back(p);
    }
  }
  // Report order: layer-major, bits in file order (as a sweep writes it).
  std::vector<Probe> ordered;
  for (const LayerInfo& l : r.layers)
    for (int b : r.bits)
      if (const Probe* p = r.find(l.name, b)) ordered.push_back(*p);
  r.probes = std::move(ordered);
  r.complete = true;
  return r;
}

std::vector<std::string> paper_warnings(const SensitivityReport& r, int64_t vocab) {
  std::vector<std::string> out;
  const double log_v = vocab > 1 ? std::log(double(vocab)) : INFINITY;
  for (const char* name : {"kl_teacher_to_student", "kl_student_to_teacher"}) {
    int64_t negative = 0, huge = 0, n = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (const Probe& p : r.probes) {
      const double v = metric_value(p.m, name);
      if (!std::isfinite(v)) continue;
      ++n;
      negative += v < 0;
      huge += v > log_v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (negative || huge)
      out.push_back(fmt::format(
          "{}: {} of {} values are not a KL divergence ({} negative, {} above log V = {:.3f}; range "
          "[{:.4g}, {:.4g}]): implausible for a KL; the paper's scripts compute this field from probabilities where "
          "log-probabilities are expected, so rank it as a score, not as nats",
          name, negative + huge, n, negative, huge, log_v, lo, hi));
  }
  return out;
}

}  // namespace kllens
