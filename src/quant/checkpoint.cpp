// kllens quantised checkpoints (kllens/checkpoint.h): writing one from a model folder and
// a plan, and checking the quantization_config of one being loaded.
//
// The writer streams: write_safetensors asks for one tensor's bytes at a time, and a
// quantised layer is converted to F32 and quantised only when its packed rows (or its row
// scales) are asked for, so peak memory is about one layer in F32, not the model.
#include "kllens/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "models/weights.h"

namespace kllens {

namespace {

namespace fs = std::filesystem;

// Files of a Hugging Face folder that the tokenizer and generation read, copied as they are.
constexpr const char* kCopiedFiles[] = {"tokenizer.json",   "tokenizer_config.json", "special_tokens_map.json",
                                        "tokenizer.model",  "vocab.json",            "merges.txt",
                                        "added_tokens.json", "generation_config.json"};

std::optional<QuantSpec> parse_layer_type(const std::string& t) {
  if (t == "f16") return std::nullopt;
  return QuantSpec::parse(t);
}

// JSON cannot hold inf / NaN (nlohmann would write null): a Mamba-2 config's
// time_step_limit [0, Infinity] keeps the {"__float__": "Infinity"} spelling kllens reads.
void keep_non_finite(nlohmann::json& j) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) j = json_float(j.get<double>());
  else if (j.is_structured())
    for (auto& v : j) keep_non_finite(v);
}

nlohmann::json read_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  nlohmann::json j = parse_json_lenient(read_file(path), path);
  if (!j.is_object()) fail("{}: not a JSON object", path);
  return j;
}

bool is_kllens_checkpoint(const std::string& dir) {
  try {
    const nlohmann::json j = read_config(dir);
    return j.contains("quantization_config") && j["quantization_config"].is_object() &&
           j["quantization_config"].value("quant_method", "") == "kllens";
  } catch (const Error&) {
    return false;
  }
}

// The tensor a plan layer's weight comes from: LAYER.weight, or for a tied head (no
// lm_head.weight in the folder) the embedding table it reads.
const TensorInfo* layer_source(const TensorStore& store, const std::string& layer, bool tied) {
  if (const TensorInfo* t = store.find(layer + ".weight")) return t;
  if (layer == "lm_head" && tied)
    for (const char* emb : {"backbone.embeddings.weight", "backbone.embedding.weight", "model.embed_tokens.weight"})
      if (const TensorInfo* t = store.find(emb)) return t;
  return nullptr;
}

HostQuant quantize_layer(const TensorInfo& t, QuantSpec spec) {
  const std::vector<float> w = to_f32(t);
  return quantize(w.data(), t.shape[0], t.shape[1], spec);
}

// A temporary folder beside the target, removed unless release()d.
class TempDir {
 public:
  explicit TempDir(const std::string& target) : path_(target + ".tmp." + std::to_string(::getpid())) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (!fs::create_directories(path_, ec) || ec) fail("{}: cannot create: {}", path_, ec.message());
  }
  ~TempDir() {
    std::error_code ec;
    if (!released_) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  void release() { released_ = true; }

 private:
  std::string path_;
  bool released_ = false;
};

// One tensor of the output and where its bytes come from.
struct OutTensor {
  enum Kind { Copy, ToF16, Packed, Scale } kind;
  const TensorInfo* src;
  size_t layer = 0;  // Packed / Scale: index into the plan
};

}  // namespace

std::string layer_type_name(const std::optional<QuantSpec>& spec) { return spec ? spec->name() : "f16"; }

std::vector<LayerType> check_quantization_config(const std::string& dir, const TensorStore& store) {
  const nlohmann::json j = read_config(dir);
  if (!j.contains("quantization_config")) return {};
  const std::string path = dir + "/config.json";
  const nlohmann::json& q = j["quantization_config"];
  if (!q.is_object()) fail("{}: quantization_config is not a JSON object", path);
  const std::string method = q.value("quant_method", "");
  if (method != "kllens")
    fail("{}: quantization_config quant_method \"{}\" is not kllens's (kllens runs the checkpoints "
         "`kllens quantize` writes)", path, method);
  if (!q.contains("layers") || !q["layers"].is_object()) fail("{}: quantization_config has no \"layers\" object", path);
  std::vector<LayerType> out;
  for (const auto& [layer, jt] : q["layers"].items()) {
    if (!jt.is_string()) fail("{}: quantization_config layer '{}' is not a type string", path, layer);
    LayerType lt{layer, std::nullopt};
    try {
      lt.spec = parse_layer_type(jt.get<std::string>());
    } catch (const Error& e) {
      fail("{}: quantization_config layer '{}': {}", path, layer, e.what());
    }
    const TensorInfo* t = store.find(layer + ".weight");
    if (!t && layer == "lm_head" && !lt.spec) {  // an unquantised tied head is the embedding
      out.push_back(std::move(lt));
      continue;
    }
    if (!t) fail("{}: quantization_config names layer '{}', but {}.weight is not in the checkpoint", path, layer, layer);
    const bool ok = lt.spec ? t->dtype == lt.spec->storage() : !dtype_is_quantized(t->dtype);
    if (!ok)
      fail("{}: layer '{}' is {} in quantization_config, but {}.weight is stored as {}", path, layer,
           layer_type_name(lt.spec), layer, dtype_name(t->dtype));
    out.push_back(std::move(lt));
  }
  return out;
}

CheckpointSummary write_quantized_checkpoint(const std::string& src, const std::vector<LayerType>& plan,
                                             const std::string& plan_name, const std::string& out) {
  std::error_code ec;
  if (fs::exists(out, ec) && !is_kllens_checkpoint(out))
    fail("{}: exists and is not a kllens quantised checkpoint; not overwriting it", out);
  const TensorStore store = TensorStore::open_dir(src);
  nlohmann::json config = read_config(src);
  const bool tied = config.value("tie_word_embeddings", config.value("tie_embeddings", true));
  // The source's own layer types, for layers that are quantised already.
  std::map<std::string, std::optional<QuantSpec>> stored_as;
  for (const LayerType& l : check_quantization_config(src, store)) stored_as[l.name] = l.spec;

  // ---- every output tensor, and the plan's layers among them -------------------------
  std::vector<TensorSpec> specs;
  std::vector<OutTensor> from;
  std::map<std::string, bool> planned;  // source tensors the plan replaces
  bool untie = false;
  for (size_t i = 0; i < plan.size(); ++i) {
    const LayerType& l = plan[i];
    const TensorInfo* t = layer_source(store, l.name, tied);
    if (!t) fail("{}: plan layer '{}' is not in the checkpoint ({}.weight missing)", src, l.name, l.name);
    if (t->shape.size() != 2) fail("{}: plan layer '{}' has shape {}, not [N, K]", src, l.name, shape_str(t->shape));
    if (!planned.emplace(l.name + ".weight", true).second) fail("plan: layer '{}' listed twice", l.name);
    planned[l.name + ".weight_scale"] = true;
    if (dtype_is_quantized(t->dtype)) {
      const auto it = stored_as.find(l.name);
      if (it == stored_as.end() || it->second != l.spec)
        fail("{}: layer '{}' is stored as {} already; the plan asks for {} (quantise from the unquantised model)",
             src, l.name, it == stored_as.end() ? std::string(dtype_name(t->dtype)) : layer_type_name(it->second),
             layer_type_name(l.spec));
      specs.push_back({l.name + ".weight", t->dtype, t->shape});
      from.push_back({OutTensor::Copy, t});
      if (const TensorInfo* s = store.find(l.name + ".weight_scale")) {
        specs.push_back({s->name, s->dtype, s->shape});
        from.push_back({OutTensor::Copy, s});
      }
      continue;
    }
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
      fail("{}: plan layer '{}' is stored as {}, not a float type", src, l.name, dtype_name(t->dtype));
    const bool tied_head = l.name == "lm_head" && !store.find("lm_head.weight");
    if (tied_head && !l.spec) continue;  // an unquantised tied head stays the embedding
    untie = untie || tied_head;
    const int64_t N = t->shape[0];
    if (!l.spec) {
      const DType d = t->dtype == DType::F32 ? DType::F16 : t->dtype;
      specs.push_back({l.name + ".weight", d, t->shape});
      from.push_back({d == t->dtype ? OutTensor::Copy : OutTensor::ToF16, t});
    } else {
      specs.push_back({l.name + ".weight", l.spec->storage(), t->shape});
      from.push_back({OutTensor::Packed, t, i});
      if (l.spec->group == 0) {
        specs.push_back({l.name + ".weight_scale", DType::F32, {N}});
        from.push_back({OutTensor::Scale, t, i});
      }
    }
  }
  CheckpointSummary sum;
  for (const std::string& name : store.names()) {
    const TensorInfo& t = store.get(name);
    if (!(tied && name == "lm_head.weight")) sum.params += shape_numel(t.shape);
    if (planned.contains(name)) continue;
    specs.push_back({name, t.dtype, t.shape});
    from.push_back({OutTensor::Copy, &t});
  }

  // ---- sizes, by layer type -----------------------------------------------------------
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& s = specs[i];
    const bool weight = s.name.ends_with(".weight"), scale = s.name.ends_with(".weight_scale");
    const std::string layer = s.name.substr(0, s.name.rfind(".weight"));
    auto in_plan = std::find_if(plan.begin(), plan.end(), [&](const LayerType& l) { return l.name == layer; });
    if (in_plan == plan.end() || !(weight || scale)) continue;
    const int64_t cols = s.shape.empty() ? 1 : s.shape.back();
    const uint64_t bytes = uint64_t(shape_numel(s.shape) / std::max<int64_t>(cols, 1)) * dtype_row_bytes(s.dtype, cols);
    sum.linear_bytes += bytes;
    const std::string type = layer_type_name(in_plan->spec);
    auto row = std::find_if(sum.by_type.begin(), sum.by_type.end(), [&](const auto& r) { return r.type == type; });
    if (row == sum.by_type.end()) row = sum.by_type.insert(sum.by_type.end(), CheckpointSummary::Row{type, 0, 0, 0});
    row->bytes += bytes;
    if (weight) {
      sum.linear_weights += shape_numel(s.shape);
      row->weights += shape_numel(s.shape);
      ++row->layers;
    }
  }

  // ---- the folder ----------------------------------------------------------------------
  TempDir tmp(out);
  // A channel layer's rows and scales are asked for separately: quantised once, kept until
  // both are written.
  std::map<size_t, HostQuant> cache;
  std::map<size_t, int> uses;
  for (const OutTensor& o : from)
    if (o.kind == OutTensor::Packed || o.kind == OutTensor::Scale) ++uses[o.layer];
  write_safetensors(tmp.path() + "/model.safetensors", specs, [&](size_t i, void* dst, size_t bytes) {
    const OutTensor& o = from[i];
    switch (o.kind) {
      case OutTensor::Copy: std::memcpy(dst, o.src->data, bytes); return;
      case OutTensor::ToF16: {
        const std::vector<float> w = to_f32(*o.src);
        auto* h = static_cast<uint16_t*>(dst);
        for (size_t k = 0; k < w.size(); ++k) h[k] = f32_to_f16(w[k]);
        return;
      }
      case OutTensor::Packed:
      case OutTensor::Scale: {
        auto it = cache.find(o.layer);
        if (it == cache.end()) it = cache.emplace(o.layer, quantize_layer(*o.src, *plan[o.layer].spec)).first;
        const HostQuant& q = it->second;
        const bool rows = o.kind == OutTensor::Packed;
        KL_CHECK(bytes == (rows ? q.data.size() : 4 * q.scale.size()), "{}: {} bytes for {}", out, bytes, specs[i].name);
        std::memcpy(dst, rows ? static_cast<const void*>(q.data.data()) : q.scale.data(), bytes);
        if (--uses[o.layer] == 0) cache.erase(it);  // rows and scales both written
        return;
      }
    }
  }, {{"format", "pt"}});

  nlohmann::json qc = {{"quant_method", "kllens"}, {"format", "kllens"}, {"version", 1}, {"plan", plan_name}};
  qc["scheme"] = "symmetric abs-max; q8/q4: per output row, F32 scale in LAYER.weight_scale; "
                 "q8_gN/q4_gN: FP16 scale per group of N in 32-value blocks laid out as ggml's Q8_0/Q4_0";
  nlohmann::json& layers = qc["layers"] = nlohmann::json::object();
  for (const LayerType& l : plan) layers[l.name] = layer_type_name(l.spec);
  config["quantization_config"] = qc;
  if (untie) config["tie_word_embeddings"] = false;  // the head now has its own (quantised) tensor
  keep_non_finite(config);
  write_file_atomic(tmp.path() + "/config.json", config.dump(2) + "\n");
  for (const char* f : kCopiedFiles)
    if (fs::exists(fs::path(src) / f) && !fs::copy_file(fs::path(src) / f, fs::path(tmp.path()) / f, ec))
      fail("{}/{}: cannot copy: {}", src, f, ec.message());
  sum.file_bytes = fs::file_size(tmp.path() + "/model.safetensors");

  // ---- into place: a previous checkpoint at `out` is moved aside first -----------------
  const std::string old = out + ".old." + std::to_string(::getpid());
  const bool replace = fs::exists(out, ec);
  if (replace) {
    fs::rename(out, old, ec);
    if (ec) fail("{}: cannot move the previous checkpoint aside: {}", out, ec.message());
  }
  fs::rename(tmp.path(), out, ec);
  if (ec) {
    std::error_code ignored;
    if (replace) fs::rename(old, out, ignored);
    fail("{}: cannot rename into place: {}", out, ec.message());
  }
  tmp.release();
  if (replace) fs::remove_all(old, ec);
  return sum;
}

}  // namespace kllens
