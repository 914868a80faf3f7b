// GGUF → kllens: the config from llama.cpp's metadata keys (or kllens-hymba's config.json),
// the tensors renamed and reshaped to what kllens's loaders read, without copying data.
#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"
#include "models/gguf_names.h"

namespace kllens {

namespace {

ModelConfig ssm_config(const GgufFile& f, Arch arch) {
  // Every size key is a count or a width: 0, or one past int32, is a damaged file (and
  // would reach a division or an overflow before the config's own checks).
  const auto u = [&](const char* k) {
    const std::string key = gguf::key(arch, k);
    const uint64_t v = f.get_uint(key);
    if (v == 0 || v > uint64_t(INT32_MAX)) fail("{}: {} is {}, not a size in [1, 2^31)", f.path(), key, v);
    return int64_t(v);
  };
  const GgufTensor* embd = f.find("token_embd.weight");
  if (!embd || embd->shape.size() != 2) fail("{}: no 2-D tensor 'token_embd.weight'", f.path());
  ModelConfig c;
  c.arch = arch;
  c.model_type = std::string(arch_name(arch));
  c.vocab_size = embd->shape[0];
  c.hidden_size = u("embedding_length");
  c.num_layers = u("block_count");
  c.intermediate_size = u("ssm.inner_size");
  c.state_size = u("ssm.state_size");
  c.conv_kernel = u("ssm.conv_kernel");
  // The key is an f32: its shortest decimal is the config's value (1e-05, not 9.99999974e-06).
  c.norm_eps = std::stod(fmt::format("{}", float(f.get_float(gguf::key(arch, "attention.layer_norm_rms_epsilon")))));
  c.use_bias = f.find("blk.0.ssm_in.bias") != nullptr;
  c.use_conv_bias = f.find("blk.0.ssm_conv1d.bias") != nullptr;
  c.tie_word_embeddings = f.find("output.weight") == nullptr;
  if (arch == Arch::Mamba1) {
    c.time_step_rank = u("ssm.time_step_rank");
    if (f.get_bool(gguf::key(arch, "ssm.dt_b_c_rms"), false))
      fail("{}: ssm.dt_b_c_rms (Falcon-Mamba's Δ/B/C norms) is not supported", f.path());
  } else {
    c.num_heads = u("ssm.time_step_rank");
    c.n_groups = u("ssm.group_count");
    if (c.num_heads <= 0 || c.intermediate_size % c.num_heads != 0)
      fail("{}: ssm.inner_size {} is not a multiple of ssm.time_step_rank {} (heads)", f.path(),
           c.intermediate_size, c.num_heads);
    c.head_dim = c.intermediate_size / c.num_heads;
    c.time_step_rank = c.num_heads;
    c.chunk_size = f.find_kv("kllens.ssm.chunk_size") ? int64_t(f.get_uint("kllens.ssm.chunk_size")) : 256;
  }
  // The HF config path validates every size once, as for a folder's config.json.
  return ModelConfig::from_json(c.to_json(), f.path());
}

}  // namespace

GgufModel read_gguf_model(const std::string& path) { return gguf_model(GgufFile::open(path)); }

GgufModel gguf_model(const std::shared_ptr<const GgufFile>& f) {
  const std::string& path = f->path();
  const std::string arch = f->get_string("general.architecture");
  ModelConfig config;
  std::vector<TensorInfo> infos;
  if (arch == "mamba" || arch == "mamba2") {
    config = ssm_config(*f, arch == "mamba" ? Arch::Mamba1 : Arch::Mamba2);
    for (const GgufTensor& t : f->tensors()) {
      const auto m = gguf::from_gguf(config, t.name, t.shape);
      if (!m) fail("{}: tensor '{}' is not part of llama.cpp's {} architecture", path, t.name, arch);
      infos.push_back({m->name, t.dtype, m->shape, t.data, t.bytes, path});
    }
  } else if (arch == gguf::architecture(Arch::Hymba)) {
    try {
      config = ModelConfig::from_json(parse_json(f->get_string("kllens-hymba.config"), path + ": kllens-hymba.config"), path);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: kllens-hymba.config: {}", path, e.what());
    }
    for (const GgufTensor& t : f->tensors()) infos.push_back({t.name, t.dtype, t.shape, t.data, t.bytes, path});
  } else {
    fail("{}: GGUF architecture '{}'; kllens runs mamba, mamba2 and kllens-hymba", path, arch);
  }
  return {config, TensorStore::from_tensors(path, std::move(infos), f)};
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  return gguf_tokenizer(*GgufFile::open(path));
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f) {
  const std::string& path = f.path();
  if (!f.find_kv("kllens.tokenizer.json"))
    fail("{}: no kllens.tokenizer.json; kllens reads the tokenizer of GGUF files it wrote "
         "(tokenizer.ggml.* alone is not read)", path);
  const GgufValue* cfg = f.find_kv("kllens.tokenizer_config.json");
  return Tokenizer::from_json_text(f.get_string("kllens.tokenizer.json"),
                                   cfg && cfg->type == GgufValueType::STRING ? cfg->s : "", path);
}

ModelFiles open_model_files(const std::string& model) {
  if (is_gguf_file(model)) {
    GgufModel g = read_gguf_model(model);
    return {std::move(g.config), std::move(g.store)};
  }
  if (std::filesystem::is_regular_file(model))
    fail("{}: not a model folder and not a GGUF file", model);
  return {ModelConfig::load(model), TensorStore::open_dir(model)};
}

}  // namespace kllens
