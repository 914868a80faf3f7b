// synth presets without writing weights (a dry run: synth_tensor_specs / synth_config_json):
// every preset's config.json parses to the intended ModelConfig, its tensor table has the
// names and shapes the model loaders ask for under that config, and the parameter counts
// are the published ones (specs/mamba.md §8, specs/hymba.md §3).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/json.h"
#include "kllens/config.h"
#include "kllens/synth.h"
#include "models/synth_specs.h"

namespace kllens {
namespace {

struct Table {
  std::map<std::string, Shape> shapes;
  int64_t params = 0;
};

Table table(const std::string& preset) {
  Table t;
  for (const TensorSpec& s : synth_tensor_specs(preset, DType::BF16)) {
    EXPECT_TRUE(t.shapes.emplace(s.name, s.shape).second) << "duplicate " << s.name;
    t.params += shape_numel(s.shape);
  }
  return t;
}

ModelConfig config(const std::string& preset) {
  return ModelConfig::from_json(
      parse_json_lenient(synth_config_json(preset, DType::BF16), preset + "/config.json"),
      preset + "/config.json");
}

void expect_shape(const Table& t, const std::string& name, const Shape& shape) {
  auto it = t.shapes.find(name);
  ASSERT_NE(it, t.shapes.end()) << name << " missing";
  EXPECT_EQ(it->second, shape) << name;
}

TEST(SynthPresets, EveryFamilyIsListed) {
  const std::vector<std::string> names = synth_presets();
  for (const char* want : {"mamba-130m", "mamba2-130m", "mamba2-370m", "mamba2-780m",
                           "mamba2-1.3b", "mamba2-2.7b", "hymba-1.5b"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST(SynthPresets, Mamba2TablesMatchTheirConfigs) {
  const std::map<std::string, std::pair<int64_t, int64_t>> dims = {
      {"mamba2-130m", {768, 24}},  {"mamba2-370m", {1024, 48}}, {"mamba2-780m", {1536, 48}},
      {"mamba2-1.3b", {2048, 48}}, {"mamba2-2.7b", {2560, 64}}};
  for (const auto& [name, hl] : dims) {
    const ModelConfig c = config(name);
    EXPECT_EQ(c.arch, Arch::Mamba2);
    EXPECT_EQ(c.hidden_size, hl.first);
    EXPECT_EQ(c.num_layers, hl.second);
    EXPECT_EQ(c.vocab_size, 50288);
    EXPECT_EQ(c.state_size, 128);
    EXPECT_EQ(c.head_dim, 64);
    EXPECT_EQ(c.n_groups, 1);
    EXPECT_EQ(c.chunk_size, 256);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_TRUE(std::isinf(c.dt_limit_hi));  // written as the bare token Infinity
    const Table t = table(name);
    const int64_t H = c.hidden_size, I = c.intermediate_size, nh = c.num_heads;
    int64_t want = c.vocab_size * H + H;  // embedding (tied head) and norm_f
    expect_shape(t, "backbone.embeddings.weight", {c.vocab_size, H});
    expect_shape(t, "backbone.norm_f.weight", {H});
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = "backbone.layers." + std::to_string(l) + ".mixer.";
      expect_shape(t, p + "in_proj.weight", {c.in_proj_rows(l), H});
      expect_shape(t, p + "conv1d.weight", {c.conv_dim(), 1, c.conv_kernel});
      expect_shape(t, p + "conv1d.bias", {c.conv_dim()});
      for (const char* v : {"dt_bias", "A_log", "D"}) expect_shape(t, p + v, {nh});
      expect_shape(t, p + "norm.weight", {I});
      expect_shape(t, p + "out_proj.weight", {H, I});
      want += H + c.in_proj_rows(l) * H + c.conv_dim() * (c.conv_kernel + 1) + 3 * nh + I + H * I;
    }
    EXPECT_EQ(t.params, want) << name;
    EXPECT_EQ(int64_t(t.shapes.size()), 2 + 9 * c.num_layers) << name;
  }
  EXPECT_EQ(table("mamba2-130m").params, 128989632);  // specs/mamba.md §8 (tied)
}

TEST(SynthPresets, HymbaTableMatchesItsConfig) {
  const ModelConfig c = config("hymba-1.5b");
  EXPECT_EQ(c.arch, Arch::Hymba);
  EXPECT_EQ(c.hidden_size, 1600);
  EXPECT_EQ(c.intermediate_size, 3200);
  EXPECT_EQ(c.mlp_size, 5504);
  EXPECT_EQ(c.num_attention_heads, 25);
  EXPECT_EQ(c.num_kv_heads, 5);
  EXPECT_EQ(c.qk_head_dim, 64);
  EXPECT_EQ(c.v_head_dim, 128);
  EXPECT_EQ(c.num_meta_tokens, 128);
  EXPECT_EQ(c.sliding_window, 1024);
  EXPECT_EQ(c.global_attn_layers, (std::vector<int64_t>{0, 15, 31}));
  EXPECT_EQ(c.rope_type, "ntk");
  const Table t = table("hymba-1.5b");
  const int64_t H = 1600, I = 3200, FF = 5504, N = 16, R = 100;
  expect_shape(t, "model.embed_tokens.weight", {32001, H});
  expect_shape(t, "model.memory_tokens", {128, H});
  expect_shape(t, "model.final_layernorm.weight", {H});
  EXPECT_EQ(t.shapes.count("lm_head.weight"), 0u);  // tied and absent, as in the checkpoint
  int consumers = 0;
  for (int64_t l = 0; l < 32; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", m = p + "mamba.";
    consumers += c.kv_producer(l) >= 0;
    expect_shape(t, m + "in_proj.weight", {c.in_proj_rows(l), H});  // 8960 or 8000 rows
    expect_shape(t, m + "conv1d.weight", {I, 1, 4});
    expect_shape(t, m + "x_proj.0.weight", {R + 2 * N, I});
    expect_shape(t, m + "dt_proj.0.weight", {I, R});
    expect_shape(t, m + "dt_proj.0.bias", {I});
    expect_shape(t, m + "A_log.0", {I, N});
    expect_shape(t, m + "D.0", {I});
    expect_shape(t, m + "dt_layernorm.weight", {R});
    expect_shape(t, m + "B_layernorm.weight", {N});
    expect_shape(t, m + "C_layernorm.weight", {N});
    expect_shape(t, m + "pre_avg_layernorm1.weight", {I});
    expect_shape(t, m + "pre_avg_layernorm2.weight", {I});
    expect_shape(t, m + "out_proj.weight", {H, I});
    expect_shape(t, p + "pre_moe_layernorm.weight", {H});
    expect_shape(t, p + "moe.experts.0.gate_proj.weight", {FF, H});
    expect_shape(t, p + "moe.experts.0.up_proj.weight", {FF, H});
    expect_shape(t, p + "moe.experts.0.down_proj.weight", {H, FF});
  }
  EXPECT_EQ(consumers, 15);
  EXPECT_EQ(c.in_proj_rows(0), 8960);
  EXPECT_EQ(c.in_proj_rows(2), 8000);
  EXPECT_EQ(int64_t(t.shapes.size()), 3 + 19 * 32);
  EXPECT_EQ(t.params, 1522797824);  // specs/hymba.md §3 (tied)
}

}  // namespace
}  // namespace kllens
