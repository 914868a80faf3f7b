// A plan applied for good on load (`--plan` on logits, perplexity, generate and bench):
// the model exactly as `kllens quantize` writes it (kllens/checkpoint.h), see lens.h.
#include <map>

#include "kllens/error.h"
#include "kllens/lens.h"

namespace kllens {

namespace {

// An F32 linear weight as F16 (round to nearest even), bias kept: what an "f16" layer of
// a plan is in a written checkpoint.
Weight to_f16(Backend& be, const Weight& src) {
  const int64_t N = src.out_features(), K = src.in_features();
  std::vector<float> w(size_t(N * K));
  be.download(src.w, w.data());
  std::vector<uint16_t> h(w.size());
  for (size_t i = 0; i < w.size(); ++i) h[i] = f32_to_f16(w[i]);
  Weight out;
  out.w = be.alloc(DType::F16, {N, K});
  be.upload(out.w, h.data());
  out.bias = src.bias;
  return out;
}

}  // namespace

void deploy_plan(Model& model, const Plan& plan) {
  std::map<std::string, LinearLayer> by_name;
  for (const LinearLayer& l : model.linear_layers(true)) by_name.emplace(l.name, l);
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const LayerInfo& info = plan.layers[i];
    auto it = by_name.find(info.name);
    if (it == by_name.end()) fail("plan layer {} is not a linear layer of this model", info.name);
    Weight& w = *it->second.weight;
    if (w.out_features() != info.out_features || w.in_features() != info.in_features)
      fail("plan layer {} is [{}, {}], the model's is [{}, {}]", info.name, info.out_features,
           info.in_features, w.out_features(), w.in_features());
    const std::optional<QuantSpec>& spec = plan.choice[i];
    if (dtype_is_quantized(w.w.dtype)) {  // a quantised checkpoint: the plan must agree with it
      if (!spec || spec->storage() != w.w.dtype)
        fail("plan layer {} is {}, but the model stores it as {} already", info.name,
             spec ? spec->name() : std::string("f16"), dtype_name(w.w.dtype));
      continue;
    }
    if (spec) w = quantize_weight(model.backend(), w, *spec);
    else if (w.w.dtype == DType::F32) w = to_f16(model.backend(), w);
  }
}

}  // namespace kllens
