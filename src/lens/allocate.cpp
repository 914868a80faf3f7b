// Mixed-precision plans from a sensitivity report: the paper's cut-offs and greedy pass,
// and the exact size-budget optimum with its Pareto front (see lens.h).
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/lens.h"

namespace kllens {

// ---- plans ----------------------------------------------------------------------------

double Plan::linear_bytes() const {
  double b = 0;
  for (size_t i = 0; i < layers.size(); ++i)
    b += weight_bytes(layers[i].out_features, layers[i].in_features, choice[i]);
  return b;
}

double Plan::bits_per_weight() const {
  double w = 0;
  for (const LayerInfo& l : layers) w += double(l.out_features) * double(l.in_features);
  return w > 0 ? 8.0 * linear_bytes() / w : 0;
}

nlohmann::ordered_json Plan::to_json() const {
  nlohmann::ordered_json j;
  j["name"] = name;
  j["method"] = method;
  j["model_bytes"] = model_bytes();
  j["linear_bytes"] = linear_bytes();
  j["other_params"] = other_params;
  j["bits_per_weight"] = bits_per_weight();
  j["predicted_kl"] = predicted_kl;
  j["perplexity"] = std::isfinite(perplexity) ? nlohmann::ordered_json(perplexity) : nlohmann::ordered_json(nullptr);
  int64_t nq8 = 0, nq4 = 0;
  auto& L = j["layers"] = nlohmann::ordered_json::object();
  for (size_t i = 0; i < layers.size(); ++i) {
    L[layers[i].name] = {{"type", choice[i] ? choice[i]->name() : "f16"},
                         {"block", layers[i].block},
                         {"shape", {layers[i].out_features, layers[i].in_features}}};
    if (choice[i]) (choice[i]->bits == 8 ? nq8 : nq4)++;
  }
  j["counts"] = {{"f16", int64_t(layers.size()) - nq8 - nq4}, {"q8", nq8}, {"q4", nq4}};
  return j;
}

// Every size is bounded before use: a layer's shape is [out, in] with each side in
// 1..kMaxFeatures (far above any real layer, small enough that out·in·bits cannot overflow).
Plan Plan::from_json(const nlohmann::ordered_json& j) {
  constexpr int64_t kMaxFeatures = int64_t(1) << 24;
  Plan p;
  p.name = json_string_at(j, "name");
  p.method = json_string_at(j, "method");
  p.other_params = json_int_at(j, "other_params", 0, int64_t(1) << 48);
  p.predicted_kl = json_double_at(j, "predicted_kl");
  p.perplexity = json_double_at(j, "perplexity", /*null_is_nan=*/true);
  const auto& layers = json_at(j, "layers");
  if (!layers.is_object()) fail("key 'layers' must be an object, got {}", json_excerpt(layers));
  for (const auto& [name, e] : layers.items()) {
    try {
      const auto& shape = json_at(e, "shape");
      std::optional<int64_t> out, in;
      if (shape.is_array() && shape.size() == 2) {
        out = json_int(shape[0], 1, kMaxFeatures);
        in = json_int(shape[1], 1, kMaxFeatures);
      }
      if (!out || !in)
        fail("shape must be [out_features, in_features], each in 1..{}, got {}", kMaxFeatures,
             json_excerpt(shape));
      p.layers.push_back({name, json_int_at(e, "block", 0, int64_t(1) << 20), *out, *in});
      const std::string t = json_string_at(e, "type");
      p.choice.push_back(t == "f16" ? std::nullopt : std::optional<QuantSpec>(QuantSpec::parse(t)));
    } catch (const Error& err) {
      fail("layer '{}': {}", excerpt(name), err.what());
    }
  }
  return p;
}

Plan Plan::load(const std::string& path) {
  const auto j = read_ordered_json_file(path);
  try {
    return from_json(j);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

namespace {

Plan empty_plan(const SensitivityReport& r, const std::string& name, const std::string& method) {
  Plan p;
  p.name = name;
  p.method = method;
  p.layers = r.layers;
  p.choice.assign(r.layers.size(), std::nullopt);
  p.other_params = r.other_params;
  return p;
}

size_t layer_index(const SensitivityReport& r, const std::string& name) {
  for (size_t i = 0; i < r.layers.size(); ++i)
    if (r.layers[i].name == name) return i;
  fail("layer {} not in the report", name);
}

// Σ KL of the plan's quantised layers under `metric`.
double plan_kl(const SensitivityReport& r, const Plan& p, const std::string& metric) {
  double s = 0;
  for (size_t i = 0; i < p.layers.size(); ++i)
    if (p.choice[i]) {
      const Probe* pr = r.find(p.layers[i].name, p.choice[i]->bits);
      KL_CHECK(pr != nullptr, "no probe for {}@{}", p.layers[i].name, p.choice[i]->bits);
      s += metric_value(pr->m, metric);
    }
  return s;
}

}  // namespace

std::vector<const Probe*> merged_by(const SensitivityReport& r, const std::string& metric) {
  std::vector<const Probe*> m;
  for (const Probe& p : r.probes)
    if (QuantSpec{p.bits, r.group}.storable()) m.push_back(&p);  // INT3/INT2: probes only
  std::stable_sort(m.begin(), m.end(), [&](const Probe* a, const Probe* b) {
    return metric_value(a->m, metric) < metric_value(b->m, metric);
  });
  return m;
}

Plan uniform_plan(const SensitivityReport& r, const std::optional<QuantSpec>& spec,
                  const std::string& name) {
  Plan p = empty_plan(r, name, "uniform");
  p.choice.assign(r.layers.size(), spec);
  return p;
}

Plan uniform_plan(Model& model, const std::optional<QuantSpec>& spec, const std::string& name) {
  Plan p;
  p.name = name;
  p.method = "uniform";
  for (const LinearLayer& l : model.linear_layers()) {
    p.layers.push_back({l.name, l.block, l.weight->out_features(), l.weight->in_features()});
    p.choice.push_back(spec);
  }
  return p;
}

// ---- the paper's cut-offs and greedy pass --------------------------------------------

std::vector<Plan> cutoff_plans(const SensitivityReport& r, int points, const std::string& metric) {
  KL_CHECK(points >= 1, "cut-off points {} < 1", points);
  const auto m = merged_by(r, metric);
  const int64_t usable = int64_t(m.size()) - 1;  // the most sensitive entry is never quantised
  std::vector<Plan> out;
  for (int k = 1; k <= points; ++k) {
    Plan p = empty_plan(r, fmt::format("p{:02d}", k), "cutoffs");
    const int64_t cut = std::llround(double(k) * double(usable) / double(points));
    for (int64_t e = 0; e < cut; ++e)  // in order: the last assignment of a layer wins
      p.choice[layer_index(r, m[size_t(e)]->layer)] = QuantSpec{m[size_t(e)]->bits, r.group};
    p.predicted_kl = plan_kl(r, p, metric);
    out.push_back(std::move(p));
  }
  return out;
}

Plan greedy_plan(const SensitivityReport& r, double gamma, const std::string& metric,
                 const std::function<double(const Plan&)>& measure, double base_ppl) {
  Plan p = empty_plan(r, fmt::format("greedy-{:g}", gamma), "greedy");
  p.perplexity = base_ppl;
  for (const Probe* e : merged_by(r, metric)) {
    const size_t i = layer_index(r, e->layer);
    const auto before = p.choice[i];
    p.choice[i] = QuantSpec{e->bits, r.group};
    const double ppl = measure(p);
    if (ppl <= gamma * base_ppl) p.perplexity = ppl;
    else p.choice[i] = before;
  }
  p.predicted_kl = plan_kl(r, p, metric);
  return p;
}

// ---- exact size budget ---------------------------------------------------------------

std::vector<Plan> pareto_front(const SensitivityReport& r, const std::string& metric) {
  struct State { double bytes, kl; std::vector<int8_t> pick; };  // pick: 0 = F16, else bits
  std::vector<State> front{{0.0, 0.0, {}}};
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const LayerInfo& l = r.layers[i];
    std::vector<std::pair<int, std::pair<double, double>>> opts = {
        {0, {weight_bytes(l.out_features, l.in_features, std::nullopt), 0.0}}};
    for (int b : r.bits)
      if (const Probe* p = QuantSpec{b, r.group}.storable() ? r.find(l.name, b) : nullptr)
        opts.push_back({b, {weight_bytes(l.out_features, l.in_features, QuantSpec{b, r.group}),
                            metric_value(p->m, metric)}});
    std::vector<State> next;
    next.reserve(front.size() * opts.size());
    for (const State& s : front)
      for (const auto& [b, cost] : opts) {
        State t{s.bytes + cost.first, s.kl + cost.second, s.pick};
        t.pick.push_back(int8_t(b));
        next.push_back(std::move(t));
      }
    // Keep the non-dominated states: by bytes ascending, strictly decreasing KL.
    std::stable_sort(next.begin(), next.end(), [](const State& a, const State& b) {
      return a.bytes < b.bytes || (a.bytes == b.bytes && a.kl < b.kl);
    });
    front.clear();
    for (State& s : next)
      if (front.empty() || s.kl < front.back().kl) front.push_back(std::move(s));
  }
  std::vector<Plan> out;
  for (size_t k = 0; k < front.size(); ++k) {
    Plan p = empty_plan(r, fmt::format("pareto-{:03d}", k), "budget");
    for (size_t i = 0; i < r.layers.size(); ++i)
      if (front[k].pick[i]) p.choice[i] = QuantSpec{front[k].pick[i], r.group};
    p.predicted_kl = front[k].kl;
    out.push_back(std::move(p));
  }
  return out;
}

Plan budget_plan(const std::vector<Plan>& front, double budget_bytes) {
  const Plan* best = nullptr;
  for (const Plan& p : front)  // cheapest first, KL decreasing: the last that fits
    if (p.model_bytes() <= budget_bytes) best = &p;
  if (!best)
    fail("no plan fits {:.0f} bytes (the smallest needs {:.0f})", budget_bytes,
         front.empty() ? 0.0 : front.front().model_bytes());
  Plan p = *best;
  p.name = fmt::format("budget-{:.2f}MB", budget_bytes / 1e6);
  return p;
}

// ---- applying a plan -----------------------------------------------------------------

std::vector<std::unique_ptr<WeightSwap>> apply_plan(Model& model, const Plan& plan) {
  std::map<std::string, LinearLayer> by_name;
  for (const LinearLayer& l : model.linear_layers(true)) by_name.emplace(l.name, l);  // lm_head too
  std::vector<std::unique_ptr<WeightSwap>> guards;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    auto it = by_name.find(plan.layers[i].name);
    if (it == by_name.end()) fail("plan layer {} is not a linear layer of this model", plan.layers[i].name);
    if (!plan.choice[i]) continue;
    Weight* w = it->second.weight;
    guards.push_back(std::make_unique<WeightSwap>(w, quantize_weight(model.backend(), *w, *plan.choice[i])));
  }
  return guards;
}

}  // namespace kllens
