// kllens quantize MODEL (--plan plan.json | --type f16|q8|q4|q8_g32|q4_g32 [--head TYPE])
//   -o OUT [--format kllens|gguf]
// Writes the quantised model: `kllens` = a Hugging Face-style folder that every kllens
// command loads as MODEL (kllens/checkpoint.h); `gguf` = a GGUF v3 file for llama.cpp.
// Atomic (a temporary folder or file, renamed at the end); prints what it wrote: bytes
// and bits per weight, per layer type.
#include <fmt/format.h>

#include "common.h"
#include "kllens/checkpoint.h"
#include "kllens/error.h"
#include "kllens/gguf_model.h"
#include "kllens/lens.h"

namespace kllens::cli {

namespace {

struct QuantizeArgs {
  std::string model, plan, type, head, out, format = "kllens";
};

std::optional<QuantSpec> parse_type(const std::string& t, const char* option) {
  if (t == "f16") return std::nullopt;
  try {
    return QuantSpec::parse(t);
  } catch (const Error& e) {
    fail("{} {}: {}", option, t, e.what());
  }
}

// The layers and their types, from --plan or from --type over every linear layer.
std::vector<LayerType> layer_types(const QuantizeArgs& a, std::string& plan_name) {
  std::vector<LayerType> out;
  if (!a.plan.empty()) {
    const Plan p = Plan::load(a.plan);
    plan_name = p.name;
    for (size_t i = 0; i < p.layers.size(); ++i) out.push_back({p.layers[i].name, p.choice[i]});
    return out;
  }
  const std::optional<QuantSpec> spec = parse_type(a.type, "--type");
  plan_name = "uniform-" + layer_type_name(spec);
  auto be = make_cpu_backend(best_cpu_tier());  // the CPU backend borrows the mapped weights: no copy
  auto model = Model::load(a.model, *be);
  for (const LinearLayer& l : model->linear_layers()) out.push_back({l.name, spec});
  if (!a.head.empty()) out.push_back({kHeadLayer, parse_type(a.head, "--head")});  // the output head
  return out;
}

void run_quantize(const QuantizeArgs& a) {
  if (a.plan.empty() == a.type.empty()) fail("quantize: give one of --plan and --type");
  if (!a.head.empty()) {
    if (a.type.empty()) fail("quantize: --head goes with --type (a plan names lm_head itself)");
  }
  std::string plan_name;
  const std::vector<LayerType> layers = layer_types(a, plan_name);

  if (a.format == "gguf") {
    // ---- --format gguf: the GGUF writer (kllens/gguf_model.h) ------------------------
    GgufExportOptions opt;  // unplanned and f16 layers: F16
    for (const LayerType& l : layers)
      if (l.spec) opt.layers[l.name] = *l.spec;
    fmt::print("{}", export_gguf(a.model, opt, a.out).report(a.out));
    return;
  }

  const CheckpointSummary s = write_quantized_checkpoint(a.model, layers, plan_name, a.out);
  fmt::print("wrote {} (kllens format, plan {}): {} bytes ({:.2f} MiB) in model.safetensors, "
             "{} parameters\n", a.out, plan_name, s.file_bytes, double(s.file_bytes) / 1048576.0, s.params);
  fmt::print("{:<10} {:>7} {:>12} {:>14} {:>10}\n", "type", "layers", "weights", "bytes", "bits/weight");
  for (const auto& r : s.by_type)
    fmt::print("{:<10} {:>7} {:>12} {:>14} {:>10.3f}\n", r.type, r.layers, r.weights, r.bytes,
               r.weights ? 8.0 * double(r.bytes) / double(r.weights) : 0.0);
  fmt::print("{:<10} {:>7} {:>12} {:>14} {:>10.3f}\n", "linear", layers.size(), s.linear_weights, s.linear_bytes,
             s.bits_per_weight());
  fmt::print("{:<10} {:>7} {:>12} {:>14} {:>10.3f}\n", "all", "", s.params, s.file_bytes,
             s.params ? 8.0 * double(s.file_bytes) / double(s.params) : 0.0);
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand("quantize", "Write the quantised model of a plan (or of one type)");
  cmd->add_option("MODEL", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--plan", a->plan, "Plan file (kllens allocate / lens)");
  cmd->add_option("--type", a->type, "Every linear layer at one type: f16, q8, q4, q8_g32, q4_g32 (also _g64, _g128)");
  cmd->add_option("--head", a->head, "With --type: the output head's type (plan layer lm_head)");
  cmd->add_option("-o,--out", a->out, "Output folder (kllens) or file (gguf)")->required();
  cmd->add_option("--format", a->format, "kllens or gguf")->capture_default_str()
      ->check(CLI::IsMember({"kllens", "gguf"}));
  cmd->callback([a] { run_quantize(*a); });
}

}  // namespace kllens::cli
