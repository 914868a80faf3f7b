// Synthetic checkpoints with real shapes and names (see include/kllens/synth.h): the
// Mamba-1 (-hf), Mamba-2 (HF form) and Hymba-1.5B presets, each a config.json exactly as
// the published checkpoint has it and a tensor table with its names, shapes and inits.
#include "kllens/synth.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/safetensors.h"
#include "models/synth_specs.h"

namespace kllens {

namespace {

struct Mamba1Preset { int64_t hidden, layers; };

// state-spaces/mamba-*-hf: vocab 50280, N 16, K 4, expand 2, R = ceil(H/16).
const std::map<std::string, Mamba1Preset>& mamba1_presets() {
  static const std::map<std::string, Mamba1Preset> p = {
      {"mamba-130m", {768, 24}},  {"mamba-370m", {1024, 48}}, {"mamba-790m", {1536, 48}},
      {"mamba-1.4b", {2048, 48}}, {"mamba-2.8b", {2560, 64}},
  };
  return p;
}

// The published mamba-*-hf config.json, leftovers of the conversion included.
nlohmann::json mamba1_config(const Mamba1Preset& p, DType dtype) {
  const int64_t R = (p.hidden + 15) / 16;
  const char* torch_dtype = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
  return {
      {"architectures", {"MambaForCausalLM"}}, {"model_type", "mamba"},
      {"bos_token_id", 0}, {"eos_token_id", 0}, {"pad_token_id", 0},
      {"conv_kernel", 4}, {"expand", 2}, {"hidden_act", "silu"}, {"hidden_size", p.hidden},
      {"initializer_range", 0.1}, {"intermediate_size", 2 * p.hidden},
      {"layer_norm_epsilon", 1e-5}, {"num_hidden_layers", p.layers},
      {"rescale_prenorm_residual", false}, {"residual_in_fp32", true}, {"state_size", 16},
      {"time_step_floor", 1e-4}, {"time_step_init_scheme", "random"}, {"time_step_max", 0.1},
      {"time_step_min", 0.001}, {"time_step_rank", R}, {"time_step_scale", 1.0},
      {"torch_dtype", torch_dtype}, {"use_bias", false}, {"use_cache", true},
      {"use_conv_bias", true}, {"vocab_size", 50280},
      {"d_model", p.hidden}, {"n_layer", p.layers}, {"d_inner", 2 * p.hidden},
      {"fused_add_norm", true}, {"rms_norm", true}, {"pad_vocab_size_multiple", 8},
      {"ssm_cfg", nlohmann::json::object()},
  };
}

// splitmix64: a fast, seedable generator; one stream per tensor keeps output independent
// of how tensors are ordered or filled.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return float(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
};

// How a tensor's values are drawn.
using Init = std::function<float(int64_t index, Rng&)>;

Init uniform(float bound) { return [bound](int64_t, Rng& r) { return (2 * r.uniform() - 1) * bound; }; }
Init constant(float v) { return [v](int64_t, Rng&) { return v; }; }

struct SynthTensor { TensorSpec spec; Init init; };

std::vector<SynthTensor> mamba1_tensors(const Mamba1Preset& p, DType dtype) {
  const int64_t H = p.hidden, I = 2 * H, N = 16, K = 4, R = (H + 15) / 16, V = 50280;
  std::vector<SynthTensor> t;
  auto add = [&](std::string name, Shape shape, Init init, DType dt) {
    t.push_back({{std::move(name), dt, std::move(shape)}, std::move(init)});
  };
  add("backbone.embeddings.weight", {V, H}, uniform(0.02f * std::sqrt(3.f)), dtype);
  for (int64_t l = 0; l < p.layers; ++l) {
    const std::string m = "backbone.layers." + std::to_string(l) + ".mixer.";
    add("backbone.layers." + std::to_string(l) + ".norm.weight", {H}, constant(1), dtype);
    add(m + "in_proj.weight", {2 * I, H}, uniform(1 / std::sqrt(float(H))), dtype);
    add(m + "conv1d.weight", {I, 1, K}, uniform(0.5f), dtype);
    add(m + "conv1d.bias", {I}, uniform(0.5f), dtype);
    add(m + "x_proj.weight", {R + 2 * N, I}, uniform(1 / std::sqrt(float(I))), dtype);
    add(m + "dt_proj.weight", {I, R}, uniform(1 / std::sqrt(float(R))), dtype);
    // bias = softplus⁻¹(dt), dt log-uniform in [1e-3, 1e-1], as the checkpoints are initialised
    add(m + "dt_proj.bias", {I}, [](int64_t, Rng& r) {
      const float dt = std::exp(std::log(1e-3f) + r.uniform() * (std::log(1e-1f) - std::log(1e-3f)));
      return dt + std::log(-std::expm1(-dt));
    }, dtype);
    add(m + "A_log", {I, N}, [N](int64_t i, Rng&) { return std::log(float(i % N + 1)); }, DType::F32);
    add(m + "D", {I}, constant(1), DType::F32);
    add(m + "out_proj.weight", {H, I}, uniform(1 / std::sqrt(float(I))), dtype);
  }
  add("backbone.norm_f.weight", {H}, constant(1), dtype);
  return t;
}

// ---- Mamba-2 (HF form of state-spaces/mamba2-*: N 128, P 64, G 1, K 4, chunk 256,
// vocab 50277 padded to 50288, tied; specs/mamba.md §1.2, §8)

struct Mamba2Preset { int64_t hidden, layers; };

const std::map<std::string, Mamba2Preset>& mamba2_presets() {
  static const std::map<std::string, Mamba2Preset> p = {
      {"mamba2-130m", {768, 24}},  {"mamba2-370m", {1024, 48}}, {"mamba2-780m", {1536, 48}},
      {"mamba2-1.3b", {2048, 48}}, {"mamba2-2.7b", {2560, 64}},
  };
  return p;
}

const char* torch_dtype_name(DType dtype) {
  return dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
}

// Written by transformers 4.x with Python's json, so the Δ limit's +inf is the bare token
// `Infinity` (patched into the dump in synth_model).
nlohmann::json mamba2_config(const Mamba2Preset& p, DType dtype) {
  return {
      {"architectures", {"Mamba2ForCausalLM"}}, {"model_type", "mamba2"},
      {"bos_token_id", 0}, {"eos_token_id", 0}, {"pad_token_id", 0},
      {"chunk_size", 256}, {"conv_kernel", 4}, {"expand", 2}, {"head_dim", 64},
      {"hidden_act", "silu"}, {"hidden_size", p.hidden}, {"initializer_range", 0.1},
      {"layer_norm_epsilon", 1e-5}, {"n_groups", 1}, {"norm_before_gate", false},
      {"num_heads", 2 * p.hidden / 64}, {"num_hidden_layers", p.layers},
      {"rescale_prenorm_residual", false}, {"residual_in_fp32", true}, {"rms_norm", true},
      {"state_size", 128}, {"tie_word_embeddings", true}, {"time_step_floor", 1e-4},
      {"time_step_limit", {0.0, "__KLLENS_INFINITY__"}}, {"time_step_max", 0.1},
      {"time_step_min", 0.001}, {"time_step_rank", (p.hidden + 15) / 16},
      {"torch_dtype", torch_dtype_name(dtype)}, {"use_bias", false}, {"use_cache", true},
      {"use_conv_bias", true}, {"vocab_size", 50288},
  };
}

// Δ bias = softplus⁻¹(dt), dt log-uniform in [1e-3, 1e-1], as the checkpoints are initialised.
Init dt_bias_init() {
  return [](int64_t, Rng& r) {
    const float dt = std::exp(std::log(1e-3f) + r.uniform() * (std::log(1e-1f) - std::log(1e-3f)));
    return dt + std::log(-std::expm1(-dt));
  };
}

std::vector<SynthTensor> mamba2_tensors(const Mamba2Preset& p, DType dtype) {
  const int64_t H = p.hidden, I = 2 * H, N = 128, K = 4, P = 64, nh = I / P, V = 50288;
  const int64_t cd = I + 2 * N, proj = 2 * I + 2 * N + nh;
  std::vector<SynthTensor> t;
  auto add = [&](std::string name, Shape shape, Init init, DType dt) {
    t.push_back({{std::move(name), dt, std::move(shape)}, std::move(init)});
  };
  add("backbone.embeddings.weight", {V, H}, uniform(0.02f * std::sqrt(3.f)), dtype);
  for (int64_t l = 0; l < p.layers; ++l) {
    const std::string m = "backbone.layers." + std::to_string(l) + ".mixer.";
    add("backbone.layers." + std::to_string(l) + ".norm.weight", {H}, constant(1), dtype);
    add(m + "in_proj.weight", {proj, H}, uniform(1 / std::sqrt(float(H))), dtype);
    add(m + "conv1d.weight", {cd, 1, K}, uniform(0.5f), dtype);
    add(m + "conv1d.bias", {cd}, uniform(0.5f), dtype);
    add(m + "dt_bias", {nh}, dt_bias_init(), dtype);
    // A = −exp(A_log) uniform in [−16, −1] (mamba_ssm's A_init_range)
    add(m + "A_log", {nh}, [](int64_t, Rng& r) { return std::log(1 + 15 * r.uniform()); }, DType::F32);
    add(m + "D", {nh}, constant(1), DType::F32);
    add(m + "norm.weight", {I}, constant(1), dtype);
    add(m + "out_proj.weight", {H, I}, uniform(1 / std::sqrt(float(I))), dtype);
  }
  add("backbone.norm_f.weight", {H}, constant(1), dtype);
  return t;
}

// ---- Hymba-1.5B (nvidia/Hymba-1.5B-Base: config.json and tensors of specs/hymba.md §2, §3)

nlohmann::json hymba_config(DType dtype) {
  nlohmann::json conv_dim = nlohmann::json::object();
  for (int l = 0; l < 32; ++l) conv_dim[std::to_string(l)] = 3200;
  return {
      {"architectures", {"HymbaForCausalLM"}}, {"model_type", "hymba"},
      {"auto_map", {{"AutoConfig", "configuration_hymba.HymbaConfig"},
                    {"AutoModelForCausalLM", "modeling_hymba.HymbaForCausalLM"}}},
      {"attention_dropout", 0.0}, {"attn_hidden_size", -1}, {"attn_implementation", "flex"},
      {"attn_implementation_new", "flex"}, {"bos_token_id", 1},
      {"calc_logits_for_entire_prompt", false}, {"conv_dim", conv_dim}, {"eos_token_id", 2},
      {"global_attn_idx", {0, 15, 31}}, {"hidden_act", "silu"}, {"hidden_size", 1600},
      {"initializer_range", 0.02}, {"intermediate_size", 5504}, {"kq_head_dim", -1},
      {"kq_norm", "none"}, {"kv_reuse_every_i_layer", -1},
      {"kv_reuse_group", {{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}, {11, 12}, {13, 14},
                          {16, 17, 18}, {19, 20}, {21, 22}, {23, 24}, {25, 26}, {27, 28}, {29, 30}}},
      {"kv_weight_reuse", false}, {"layer_type", std::vector<std::string>(32, "h")},
      {"mamba_conv_bias", true}, {"mamba_d_conv", 4}, {"mamba_d_state", 16},
      {"mamba_dt_rank", 100}, {"mamba_expand", 2}, {"mamba_inner_layernorms", true},
      {"mamba_proj_bias", false}, {"max_position_embeddings", 8192},
      {"memory_tokens_interspersed_every", 0}, {"mlp_hidden_act", "silu"},
      {"num_attention_heads", 25}, {"num_experts", 1}, {"num_experts_per_tok", 1},
      {"num_hidden_layers", 32}, {"num_key_value_heads", 5}, {"num_mamba", 1},
      {"num_memory_tokens", 128}, {"orig_max_position_embeddings", 2048},
      {"output_router_logits", false}, {"pad_token_id", 0}, {"rms_norm_eps", 1e-6},
      {"rope", true}, {"rope_theta", 10000.0}, {"rope_type", "ntk"},
      {"router_aux_loss_coef", 0.001}, {"seq_length", 8192}, {"sliding_window", 1024},
      {"tie_word_embeddings", true}, {"torch_dtype", torch_dtype_name(dtype)},
      {"use_cache", false}, {"use_mamba_kernels", true}, {"v_head_dim", 128},
      {"vocab_size", 32001},
  };
}

std::vector<SynthTensor> hymba_tensors(DType dtype) {
  const int64_t V = 32001, H = 1600, I = 3200, FF = 5504, N = 16, K = 4, R = 100, M = 128;
  const int64_t kh = 5 * 64, vh = 5 * 128;
  const std::vector<int64_t> consumers = {2, 4, 6, 8, 10, 12, 14, 17, 18, 20, 22, 24, 26, 28, 30};
  std::vector<SynthTensor> t;
  auto add = [&](std::string name, Shape shape, Init init, DType dt) {
    t.push_back({{std::move(name), dt, std::move(shape)}, std::move(init)});
  };
  add("model.embed_tokens.weight", {V, H}, uniform(0.02f * std::sqrt(3.f)), dtype);
  add("model.memory_tokens", {M, H}, uniform(0.02f * std::sqrt(3.f)), dtype);
  for (int64_t l = 0; l < 32; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", m = p + "mamba.";
    const bool consumer = std::find(consumers.begin(), consumers.end(), l) != consumers.end();
    add(p + "input_layernorm.weight", {H}, constant(1), dtype);
    add(m + "in_proj.weight", {consumer ? H + 2 * I : H + kh + vh + 2 * I, H},
        uniform(1 / std::sqrt(float(H))), dtype);
    add(m + "conv1d.weight", {I, 1, K}, uniform(0.5f), dtype);
    add(m + "conv1d.bias", {I}, uniform(0.5f), dtype);
    add(m + "x_proj.0.weight", {R + 2 * N, I}, uniform(1 / std::sqrt(float(I))), dtype);
    add(m + "dt_proj.0.weight", {I, R}, uniform(1 / std::sqrt(float(R))), dtype);
    add(m + "dt_proj.0.bias", {I}, dt_bias_init(), dtype);
    add(m + "A_log.0", {I, N}, [N](int64_t i, Rng&) { return std::log(float(i % N + 1)); }, dtype);
    add(m + "D.0", {I}, constant(1), dtype);
    add(m + "dt_layernorm.weight", {R}, constant(1), dtype);
    add(m + "B_layernorm.weight", {N}, constant(1), dtype);
    add(m + "C_layernorm.weight", {N}, constant(1), dtype);
    add(m + "pre_avg_layernorm1.weight", {I}, constant(1), dtype);
    add(m + "pre_avg_layernorm2.weight", {I}, constant(1), dtype);
    add(m + "out_proj.weight", {H, I}, uniform(1 / std::sqrt(float(I))), dtype);
    add(p + "pre_moe_layernorm.weight", {H}, constant(1), dtype);
    add(p + "moe.experts.0.gate_proj.weight", {FF, H}, uniform(1 / std::sqrt(float(H))), dtype);
    add(p + "moe.experts.0.up_proj.weight", {FF, H}, uniform(1 / std::sqrt(float(H))), dtype);
    add(p + "moe.experts.0.down_proj.weight", {H, FF}, uniform(1 / std::sqrt(float(FF))), dtype);
  }
  add("model.final_layernorm.weight", {H}, constant(1), dtype);  // tied: no lm_head.weight
  return t;
}

// ---- every preset

struct Preset {
  std::function<nlohmann::json(DType)> config;
  std::function<std::vector<SynthTensor>(DType)> tensors;
};

const std::map<std::string, Preset>& presets() {
  static const std::map<std::string, Preset> all = [] {
    std::map<std::string, Preset> m;
    for (const auto& [name, p] : mamba1_presets())
      m[name] = {[p = p](DType d) { return mamba1_config(p, d); },
                 [p = p](DType d) { return mamba1_tensors(p, d); }};
    for (const auto& [name, p] : mamba2_presets())
      m[name] = {[p = p](DType d) { return mamba2_config(p, d); },
                 [p = p](DType d) { return mamba2_tensors(p, d); }};
    m["hymba-1.5b"] = {hymba_config, hymba_tensors};
    return m;
  }();
  return all;
}

const Preset& find_preset(const std::string& preset) {
  auto it = presets().find(preset);
  if (it == presets().end()) fail("synth: unknown preset '{}'", preset);
  return it->second;
}

std::string config_text(const nlohmann::json& config) {
  std::string text = config.dump(2) + "\n";
  const std::string inf = "\"__KLLENS_INFINITY__\"";
  for (size_t at; (at = text.find(inf)) != std::string::npos;) text.replace(at, inf.size(), "Infinity");
  return text;
}

void fill(const SynthTensor& t, uint64_t seed, void* dst) {
  const int64_t n = shape_numel(t.spec.shape);
  // Blocks of 4096 values, each with its own stream, filled in parallel.
  const int64_t block = 4096;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < (n + block - 1) / block; ++b) {
    Rng rng{seed ^ (uint64_t(b) * 0xd1b54a32d192ed03ull)};
    for (int64_t i = b * block; i < std::min(n, (b + 1) * block); ++i) {
      const float v = t.init(i, rng);
      switch (t.spec.dtype) {
        case DType::F32: static_cast<float*>(dst)[i] = v; break;
        case DType::F16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(v); break;
        case DType::BF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v); break;
        default: break;
      }
    }
  }
}

}  // namespace

std::vector<std::string> synth_presets() {
  std::vector<std::string> names;
  for (const auto& [name, p] : presets()) names.push_back(name);
  return names;
}

std::vector<TensorSpec> synth_tensor_specs(const std::string& preset, DType dtype) {
  std::vector<TensorSpec> specs;
  for (const auto& t : find_preset(preset).tensors(dtype)) specs.push_back(t.spec);
  return specs;
}

std::string synth_config_json(const std::string& preset, DType dtype) {
  return config_text(find_preset(preset).config(dtype));
}

void synth_model(const std::string& preset, const std::string& dir, DType dtype, uint64_t seed) {
  const Preset& p = find_preset(preset);
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    fail("synth: dtype must be f32, f16 or bf16");
  std::filesystem::create_directories(dir);
  const std::vector<SynthTensor> tensors = p.tensors(dtype);
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) specs.push_back(t.spec);
  write_safetensors(dir + "/model.safetensors", specs, [&](size_t i, void* dst, size_t) {
    fill(tensors[i], seed * 1000003ull + i, dst);
  }, {{"format", "pt"}, {"kllens_synth", preset}});
  write_file_atomic(dir + "/config.json", config_text(p.config(dtype)));
}

}  // namespace kllens
