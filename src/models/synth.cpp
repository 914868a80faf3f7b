// Synthetic checkpoints with real shapes and names (see include/kllens/synth.h).
#include "kllens/synth.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/safetensors.h"

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
  for (const auto& [name, p] : mamba1_presets()) names.push_back(name);
  return names;
}

void synth_model(const std::string& preset, const std::string& dir, DType dtype, uint64_t seed) {
  auto it = mamba1_presets().find(preset);
  if (it == mamba1_presets().end()) fail("synth: unknown preset '{}'", preset);
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    fail("synth: dtype must be f32, f16 or bf16");
  std::filesystem::create_directories(dir);
  const std::vector<SynthTensor> tensors = mamba1_tensors(it->second, dtype);
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) specs.push_back(t.spec);
  write_safetensors(dir + "/model.safetensors", specs, [&](size_t i, void* dst, size_t) {
    fill(tensors[i], seed * 1000003ull + i, dst);
  }, {{"format", "pt"}, {"kllens_synth", preset}});
  write_file_atomic(dir + "/config.json", mamba1_config(it->second, dtype).dump(2) + "\n");
}

}  // namespace kllens
