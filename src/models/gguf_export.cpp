// export_gguf: a kllens model (HF folder or GGUF) and a per-layer plan → GGUF v3.
// What goes where is described in include/kllens/gguf_model.h.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "kllens/error.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"
#include "kllens/io.h"
#include "kllens/model.h"
#include "models/gguf_names.h"
#include "models/weights.h"

namespace kllens {

namespace {

// One tensor of the output file and where its values come from.
struct Job {
  GgufTensorSpec spec;
  const TensorInfo* src;
  gguf::Transform transform = gguf::Transform::None;
  std::optional<QuantSpec> quant;  // Q8_0 / Q4_0 targets
};

// F32 values of a source tensor: float types, or ggml blocks from a GGUF source.
std::vector<float> source_f32(const TensorInfo& t) {
  if (t.dtype != DType::Q8_0 && t.dtype != DType::Q4_0) return to_f32(t);
  HostQuant q;
  q.type = t.dtype;
  q.cols = t.shape.back();
  q.rows = shape_numel(t.shape) / q.cols;
  q.data.assign(t.data, t.data + t.bytes);
  return dequantize(q);
}

// The tokenizer files of a model folder, or those a kllens GGUF file carries.
std::pair<std::string, std::string> tokenizer_texts(const std::string& model) {
  if (is_gguf_file(model)) {
    auto f = GgufFile::open(model);
    const GgufValue* cfg = f->find_kv("kllens.tokenizer_config.json");
    return {f->get_string("kllens.tokenizer.json"), cfg ? cfg->s : std::string()};
  }
  const std::string cfg = model + "/tokenizer_config.json";
  return {read_file(model + "/tokenizer.json"),
          std::filesystem::exists(cfg) ? read_file(cfg) : std::string()};
}

uint32_t file_type(const std::map<DType, int64_t>& params_by_type) {
  DType most = DType::F16;
  int64_t n = -1;
  for (const auto& [t, p] : params_by_type)
    if (p > n) most = t, n = p;
  switch (most) {
    case DType::F32: return kFtypeAllF32;
    case DType::Q8_0: return kFtypeMostlyQ8_0;
    case DType::Q4_0: return kFtypeMostlyQ4_0;
    default: return kFtypeMostlyF16;
  }
}

// llama.cpp's hyperparameter keys (convert_hf_to_gguf.py's set_gguf_parameters).
void add_arch_keys(const ModelConfig& c, std::vector<std::pair<std::string, GgufValue>>& kv) {
  const auto u32 = [&](const char* k, int64_t v) { kv.emplace_back(gguf::key(c.arch, k), GgufValue::u32(uint32_t(v))); };
  u32("context_length", 1 << 20);  // no limit; llama.cpp's converter writes 2^20 too
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", 0);
  u32("attention.head_count", 0);
  u32("block_count", c.num_layers);
  u32("ssm.conv_kernel", c.conv_kernel);
  u32("ssm.inner_size", c.intermediate_size);
  u32("ssm.state_size", c.state_size);
  if (c.arch == Arch::Mamba1) {
    u32("ssm.time_step_rank", c.time_step_rank);
    kv.emplace_back(gguf::key(c.arch, "ssm.dt_b_c_rms"), GgufValue::boolean(false));
  } else {
    u32("ssm.time_step_rank", c.num_heads);  // llama.cpp's n_head of Mamba-2
    u32("ssm.group_count", c.n_groups);
  }
  kv.emplace_back(gguf::key(c.arch, "attention.layer_norm_rms_epsilon"), GgufValue::f32(float(c.norm_eps)));
}

}  // namespace

GgufExportResult export_gguf(const std::string& model, const GgufExportOptions& opt,
                             const std::string& out) {
  if (opt.float_type != DType::F16 && opt.float_type != DType::F32)
    fail("GGUF export: the float type must be F16 or F32, not {}", dtype_name(opt.float_type));
  const ModelFiles files = open_model_files(model);
  const ModelConfig& c = files.config;
  const TensorStore& store = files.store;
  const bool llama = gguf::is_llama_cpp_arch(c.arch);
  if (c.arch == Arch::Mamba2 && (c.dt_limit_lo != 0 || std::isfinite(c.dt_limit_hi)))
    fail("{}: time_step_limit [{}, {}]: llama.cpp's mamba2 has no Δ clamp", model, c.dt_limit_lo,
         c.dt_limit_hi);

  // The plan's namespace: the model's linear layers, and the head.
  std::set<std::string> linear;
  {
    auto cpu = make_cpu_backend(best_cpu_tier());
    auto m = Model::load(model, *cpu);
    for (const LinearLayer& l : m->linear_layers()) linear.insert(l.name);
  }
  for (const auto& [name, spec] : opt.layers) {
    spec.validate();
    if (!linear.count(name) && name != "lm_head")
      fail("{}: plan layer '{}' is not a linear layer of this model", model, name);
  }
  const bool head_planned = opt.layers.count("lm_head") > 0;

  GgufExportResult res;
  res.architecture = gguf::architecture(c.arch);
  res.llama_cpp_arch = llama;
  std::vector<Job> jobs;
  std::map<DType, int64_t> params_by_type;
  const std::string embed_name = store.find("backbone.embedding.weight") ? "backbone.embedding.weight"
                                 : c.arch == Arch::Hymba ? "model.embed_tokens.weight"
                                                         : "backbone.embeddings.weight";
  std::vector<std::string> names = store.names();
  const bool head_from_embedding = head_planned && !store.find("lm_head.weight");
  if (head_from_embedding) names.push_back("lm_head.weight");  // the tied head, untied

  for (const std::string& hf : names) {
    const bool is_head = hf == "lm_head.weight";
    if (is_head && c.tie_word_embeddings && !head_planned) continue;  // a tied copy
    const TensorInfo& src = store.get(is_head && head_from_embedding ? embed_name : hf);
    Job job;
    job.src = &src;
    job.spec.name = hf;
    job.spec.shape = src.shape;
    if (llama) {
      const auto m = gguf::to_gguf(c, hf, src.shape);
      if (!m) fail("{}: tensor '{}' has no place in llama.cpp's {} architecture", model, hf, res.architecture);
      job.spec.name = m->name;
      job.spec.shape = m->shape;
      job.transform = m->transform;
    }
    // The layer this tensor is the weight of, if it is one of the plan's layers.
    const std::string layer = is_head ? "lm_head" : hf.ends_with(".weight") ? hf.substr(0, hf.size() - 7) : "";
    const bool is_linear = is_head || linear.count(layer);
    const bool two_d = src.shape.size() == 2 && hf.ends_with(".weight");
    job.spec.dtype = two_d ? opt.float_type : DType::F32;
    if (auto it = opt.layers.find(layer); is_linear && it != opt.layers.end()) {
      const QuantSpec want = it->second;
      const int64_t N = src.shape[0], K = src.shape[1];
      if (K % 32 != 0) {
        res.changes.push_back({layer, want.name(), opt.float_type, weight_bytes(N, K, want),
                               double(N * K) * double(dtype_size(opt.float_type)),
                               fmt::format("rows of {} are not whole 32-blocks, which ggml's "
                                           "Q8_0/Q4_0 require", K)});
      } else {
        job.quant = want.group == 0 ? QuantSpec{want.bits, 32} : want;
        job.spec.dtype = job.quant->storage();
        if (want.group == 0)
          res.changes.push_back({layer, want.name(), job.spec.dtype, weight_bytes(N, K, want),
                                 double(N) * double(dtype_row_bytes(job.spec.dtype, K)),
                                 "per-channel scales have no GGUF type: re-quantised in 32-blocks"});
      }
    } else if (dtype_is_quantized(src.dtype) && two_d) {
      job.spec.dtype = src.dtype;  // already in ggml blocks (a GGUF source): copied as is
    }
    if (is_linear) {
      const int64_t n = shape_numel(src.shape);
      res.linear_types[layer] = job.spec.dtype;
      res.linear_params += n;
      res.linear_bytes += double(n / src.shape.back()) * double(dtype_row_bytes(job.spec.dtype, src.shape.back()));
      params_by_type[job.spec.dtype] += n;
    }
    jobs.push_back(std::move(job));
  }

  std::vector<std::pair<std::string, GgufValue>> kv;
  kv.emplace_back("general.architecture", GgufValue::string(res.architecture));
  kv.emplace_back("general.name", GgufValue::string(std::filesystem::path(model).filename().string()));
  kv.emplace_back("general.file_type", GgufValue::u32(file_type(params_by_type)));
  if (params_by_type.count(DType::Q8_0) || params_by_type.count(DType::Q4_0))
    kv.emplace_back("general.quantization_version", GgufValue::u32(2));
  if (llama) {
    add_arch_keys(c, kv);
    if (c.arch == Arch::Mamba2)
      kv.emplace_back("kllens.ssm.chunk_size", GgufValue::u32(uint32_t(c.chunk_size)));
  } else {
    kv.emplace_back("kllens-hymba.config", GgufValue::string(c.to_json().dump()));
  }
  const auto [tok_json, tok_cfg] = tokenizer_texts(model);
  gguf::add_tokenizer_keys(tok_json, tok_cfg, c.vocab_size, model, kv);
  kv.emplace_back("kllens.tokenizer.json", GgufValue::string(tok_json));
  if (!tok_cfg.empty()) kv.emplace_back("kllens.tokenizer_config.json", GgufValue::string(tok_cfg));

  std::vector<GgufTensorSpec> specs;
  for (const Job& j : jobs) specs.push_back(j.spec);
  res.file_bytes = write_gguf(out, kv, specs, [&](size_t i, uint8_t* dst, size_t bytes) {
    const Job& j = jobs[i];
    if (j.spec.dtype == j.src->dtype && dtype_is_quantized(j.src->dtype) && !j.quant) {
      KL_CHECK(bytes == j.src->bytes, "tensor '{}': {} bytes, source {}", j.spec.name, bytes, j.src->bytes);
      std::memcpy(dst, j.src->data, bytes);
      return;
    }
    std::vector<float> v = source_f32(*j.src);
    if (j.transform == gguf::Transform::NegExp)
      for (float& x : v) x = -std::exp(x);
    const int64_t K = j.spec.shape.back(), N = int64_t(v.size()) / K;
    switch (j.spec.dtype) {
      case DType::F32: std::memcpy(dst, v.data(), bytes); break;
      case DType::F16:
        for (size_t k = 0; k < v.size(); ++k) {
          const uint16_t h = f32_to_f16(v[k]);
          std::memcpy(dst + 2 * k, &h, 2);
        }
        break;
      default: quantize_rows(v.data(), K, K, 0, N, *j.quant, dst, nullptr); break;
    }
  });
  return res;
}

std::string GgufExportResult::report(const std::string& path) const {
  std::string r = fmt::format(
      "wrote {} (GGUF v3, architecture {}): {} bytes ({:.2f} MiB); linear layers {} weights, "
      "{:.0f} bytes, {:.3f} bits/weight\n",
      path, architecture, file_bytes, double(file_bytes) / 1048576.0, linear_params, linear_bytes,
      bits_per_weight());
  if (!llama_cpp_arch)
    r += fmt::format("note: llama.cpp has no architecture for this model: written as {}, which "
                     "only kllens reads\n", architecture);
  if (changes.empty()) return r;
  double cost = 0;
  for (const GgufLayerChange& c : changes) cost += c.written_bytes - c.planned_bytes;
  r += fmt::format("{} layers stored otherwise than planned ({:+.0f} bytes against the plan):\n",
                   changes.size(), cost);
  r += fmt::format("  {:<44} {:>8} {:>7} {:>12} {:>12} {:>10}  {}\n", "layer", "planned", "written",
                   "plan bytes", "file bytes", "cost", "why");
  for (const GgufLayerChange& c : changes)
    r += fmt::format("  {:<44} {:>8} {:>7} {:>12.0f} {:>12.0f} {:>+10.0f}  {}\n", c.layer, c.planned,
                     dtype_name(c.written), c.planned_bytes, c.written_bytes,
                     c.written_bytes - c.planned_bytes, c.why);
  return r;
}

}  // namespace kllens
