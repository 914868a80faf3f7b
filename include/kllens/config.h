// Model configuration: one struct for Mamba-1, Mamba-2 and Hymba, read from a Hugging
// Face config.json (or an original mamba_ssm config) with every HF default and quirk.
//
// Sizes follow the specs' notation (specs/mamba.md §1, specs/hymba.md §2): H hidden,
// I SSM inner width, N state, K conv kernel, R Δ rank, nh/P/G Mamba-2 heads, head dim
// and groups. The config is validated here, once, so model code can trust the sizes.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kllens {

enum class Arch { Mamba1, Mamba2, Hymba };
std::string_view arch_name(Arch a);  // "mamba", "mamba2", "hymba"

struct ModelConfig {
  Arch arch = Arch::Mamba1;
  std::string model_type;  // HF model_type: "mamba", "mamba2" or "hymba" (also for mamba_ssm input)
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0;
  // Mamba-1/2: d_inner (I). Hymba: the SSM width int(mamba_expand*H), NOT the config's
  // intermediate_size (that one is the MLP width, mlp_size).
  int64_t intermediate_size = 0;
  int64_t state_size = 0, conv_kernel = 0, time_step_rank = 0;
  double norm_eps = 1e-5;
  bool use_bias = false, use_conv_bias = true, tie_word_embeddings = true, residual_in_fp32 = true;

  // ---- Mamba-2
  int64_t num_heads = 0, head_dim = 0, n_groups = 1, chunk_size = 256;
  double dt_limit_lo = 0, dt_limit_hi = INFINITY;  // Δ clamp after softplus

  // ---- Hymba
  int64_t mlp_size = 0;  // config intermediate_size; 0 = no MLP
  int64_t num_attention_heads = 0, num_kv_heads = 0, qk_head_dim = 0, v_head_dim = 0;
  int64_t num_meta_tokens = 0;
  int64_t sliding_window = 0;  // 0 = none (every layer global)
  int64_t max_position_embeddings = 0, orig_max_position_embeddings = 0;
  bool rope = false;  // config "rope": RoPE on q and k at all
  double rope_theta = 10000;
  std::string rope_type;  // "" (default: base θ) or "ntk" (static NTK-scaled base)
  bool inner_layernorms = false;
  // Layers with full causal attention; with a sliding window the others use it. When the
  // config has no global_attn_idx, HF attends globally everywhere, so every layer is listed.
  std::vector<int64_t> global_attn_layers;
  // [producer, consumer...] per group (kv_reuse_every_i_layer is converted to groups).
  std::vector<std::vector<int64_t>> kv_reuse_groups;
  std::string mlp_act;  // "silu" (SwiGLU) or "relu2"

  // ---- helpers
  int64_t conv_dim() const;                   // Mamba-2: I + 2·G·N; else I
  int64_t in_proj_rows(int64_t layer) const;  // Mamba-1 2I; Mamba-2 2I+2GN+nh;
                                              // Hymba H+kh+vh+2I, or H+2I for KV consumers
  int kv_producer(int64_t layer) const;       // Hymba: producer of a consumer layer, else -1
  bool is_global_attn(int64_t layer) const;   // Hymba: full causal attention in this layer

  // Reads DIR/config.json. Throws one-line kllens::Error "DIR/config.json: ...".
  static ModelConfig load(const std::string& dir);
  static ModelConfig from_json(const nlohmann::json& j, const std::string& path_for_errors);
  // HF-style config.json that from_json reads back to an equal ModelConfig.
  nlohmann::json to_json() const;

  bool operator==(const ModelConfig&) const = default;
};

}  // namespace kllens
