// ModelConfig: the three fixture configs, each HF class's defaults, the original
// mamba_ssm format, the two spellings of Infinity, errors that name the file, and the
// to_json → from_json round trip.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/json.h"
#include "kllens/config.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/safetensors.h"
#include "support/compare.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A fresh directory per test, removed when the test ends, so tests never share files
// (also across concurrent runs of the suite).
struct TestDir {
  std::string path;
  TestDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = ::testing::TempDir() + "/kllens_cfg_" + std::to_string(::getpid()) + "_" +
           info->test_suite_name() + "_" + info->name();
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TestDir() { fs::remove_all(path); }
};

ModelConfig parse(const std::string& text) {
  return ModelConfig::from_json(parse_json_lenient(text, "t.json"), "t.json");
}

// The message of the kllens::Error that f throws, or "<no error>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

::testing::AssertionResult mentions(const std::string& msg,
                                    std::initializer_list<std::string> parts) {
  if (msg.find('\n') != std::string::npos)
    return ::testing::AssertionFailure() << "multi-line: " << msg;
  for (const auto& p : parts)
    if (msg.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << p << "' not in: " << msg;
  return ::testing::AssertionSuccess();
}

std::string parse_error(const std::string& text) {
  return error_of([&] { parse(text); });
}

// Through text, as `kllens synth` writes it: infinities must survive dump().
void expect_roundtrip(const ModelConfig& c) {
  const ModelConfig back =
      ModelConfig::from_json(parse_json_lenient(c.to_json().dump(2), "rt.json"), "rt.json");
  EXPECT_TRUE(back == c) << c.to_json().dump() << "\nvs\n" << back.to_json().dump();
}

// ---- the fixtures --------------------------------------------------------------------------

TEST(Config, TinyMamba) {
  const ModelConfig c = ModelConfig::load(shared_path("fixtures/tiny-mamba"));
  EXPECT_EQ(c.arch, Arch::Mamba1);
  EXPECT_EQ(c.model_type, "mamba");
  EXPECT_EQ(arch_name(c.arch), "mamba");
  EXPECT_EQ(c.vocab_size, 4096);
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.num_layers, 8);
  EXPECT_EQ(c.intermediate_size, 256);
  EXPECT_EQ(c.state_size, 16);
  EXPECT_EQ(c.conv_kernel, 4);
  EXPECT_EQ(c.time_step_rank, 8);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_FALSE(c.use_bias);
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.residual_in_fp32);
  EXPECT_EQ(c.conv_dim(), 256);
  EXPECT_EQ(c.in_proj_rows(0), 512);
  EXPECT_EQ(c.kv_producer(3), -1);
}

TEST(Config, TinyMamba2BareInfinity) {
  const ModelConfig c = ModelConfig::load(shared_path("fixtures/tiny-mamba2"));
  EXPECT_EQ(c.arch, Arch::Mamba2);
  EXPECT_EQ(c.intermediate_size, 256);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.n_groups, 1);
  EXPECT_EQ(c.state_size, 32);
  EXPECT_EQ(c.chunk_size, 64);
  EXPECT_EQ(c.dt_limit_lo, 0.0);
  EXPECT_TRUE(std::isinf(c.dt_limit_hi) && c.dt_limit_hi > 0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.use_bias);
  EXPECT_EQ(c.conv_dim(), 256 + 2 * 32);
  EXPECT_EQ(c.in_proj_rows(0), 2 * 256 + 2 * 32 + 8);
}

TEST(Config, TinyHymba) {
  const ModelConfig c = ModelConfig::load(shared_path("fixtures/tiny-hymba"));
  EXPECT_EQ(c.arch, Arch::Hymba);
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.num_layers, 6);
  EXPECT_EQ(c.intermediate_size, 256);  // int(mamba_expand·H), not the config's 344
  EXPECT_EQ(c.mlp_size, 344);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.qk_head_dim, 32);
  EXPECT_EQ(c.v_head_dim, 64);  // I/heads = 256/4, whatever the config's v_head_dim says
  EXPECT_EQ(c.num_meta_tokens, 16);
  EXPECT_EQ(c.sliding_window, 64);
  EXPECT_EQ(c.time_step_rank, 8);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_TRUE(c.rope);
  EXPECT_EQ(c.rope_type, "ntk");
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_EQ(c.orig_max_position_embeddings, 512);
  EXPECT_TRUE(c.inner_layernorms);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.mlp_act, "silu");
  EXPECT_EQ(c.global_attn_layers, (std::vector<int64_t>{0, 3, 5}));
  for (int64_t l = 0; l < 6; ++l) EXPECT_EQ(c.is_global_attn(l), l == 0 || l == 3 || l == 5) << l;
  EXPECT_EQ(c.kv_producer(2), 1);
  EXPECT_EQ(c.kv_producer(1), -1);
  EXPECT_EQ(c.kv_producer(0), -1);
  // The in_proj row counts agree with the checkpoint itself.
  const TensorStore store = TensorStore::open_dir(shared_path("fixtures/tiny-hymba"));
  for (int64_t l = 0; l < c.num_layers; ++l)
    EXPECT_EQ(store.get(fmt::format("model.layers.{}.mamba.in_proj.weight", l)).shape,
              (Shape{c.in_proj_rows(l), c.hidden_size}))
        << "layer " << l;
  EXPECT_EQ(c.in_proj_rows(2), 128 + 2 * 256);
}

// ---- defaults of each class ------------------------------------------------------------

TEST(ConfigDefaults, Mamba1) {
  const ModelConfig c = parse(R"({"model_type": "mamba"})");
  EXPECT_EQ(c.vocab_size, 50280);
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_layers, 32);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.state_size, 16);
  EXPECT_EQ(c.conv_kernel, 4);
  EXPECT_EQ(c.time_step_rank, 48);  // "auto" → ceil(768/16)
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_TRUE(c.use_bias);  // MambaConfig's class default
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.residual_in_fp32);
}

TEST(ConfigDefaults, Mamba1IntermediateOverridesExpandAndAutoRank) {
  const ModelConfig c = parse(R"({"model_type": "mamba", "hidden_size": 100, "expand": 2,
                                  "intermediate_size": 150, "time_step_rank": "auto"})");
  EXPECT_EQ(c.intermediate_size, 150);
  EXPECT_EQ(c.time_step_rank, 7);  // ceil(100/16)
  EXPECT_EQ(parse(R"({"model_type": "mamba", "hidden_size": 100, "expand": 3})").intermediate_size,
            300);
}

TEST(ConfigDefaults, Mamba2) {
  const ModelConfig c = parse(R"({"model_type": "mamba2"})");
  EXPECT_EQ(c.vocab_size, 32768);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.num_layers, 64);
  EXPECT_EQ(c.intermediate_size, 8192);
  EXPECT_EQ(c.num_heads, 128);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_groups, 8);
  EXPECT_EQ(c.state_size, 128);
  EXPECT_EQ(c.chunk_size, 256);
  EXPECT_FALSE(c.use_bias);
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_FALSE(c.tie_word_embeddings);  // Mamba2Config's class default
  EXPECT_EQ(c.dt_limit_lo, 0.0);
  EXPECT_TRUE(std::isinf(c.dt_limit_hi));
}

TEST(ConfigDefaults, Mamba2IgnoresIntermediateSize) {
  const ModelConfig c = parse(R"({"model_type": "mamba2", "hidden_size": 64, "num_heads": 2,
                                  "head_dim": 64, "n_groups": 1, "intermediate_size": 999})");
  EXPECT_EQ(c.intermediate_size, 128);
}

TEST(ConfigDefaults, Hymba) {
  const ModelConfig c =
      parse(R"({"model_type": "hymba", "sliding_window": null, "rope_type": null})");
  EXPECT_EQ(c.vocab_size, 65536);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.num_layers, 32);
  EXPECT_EQ(c.mlp_size, 14336);
  EXPECT_EQ(c.intermediate_size, 8192);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.qk_head_dim, 128);
  EXPECT_EQ(c.v_head_dim, 256);
  EXPECT_EQ(c.time_step_rank, 256);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.num_meta_tokens, 0);
  EXPECT_FALSE(c.rope);
  EXPECT_EQ(c.rope_type, "");
  EXPECT_TRUE(c.kv_reuse_groups.empty());
  for (int64_t l = 0; l < 32; ++l) EXPECT_TRUE(c.is_global_attn(l));
  EXPECT_EQ(c.in_proj_rows(0), 4096 + 8 * 128 + 8 * 256 + 2 * 8192);
  EXPECT_EQ(parse(R"({"model_type": "hymba", "num_key_value_heads": null})").num_kv_heads, 32);
}

TEST(ConfigDefaults, HymbaWindowWithoutGlobalListIsGlobalEverywhere) {
  // HF applies the window only to layers missing from a given global_attn_idx.
  const ModelConfig c =
      parse(R"({"model_type": "hymba", "num_hidden_layers": 4, "sliding_window": 8})");
  EXPECT_EQ(c.global_attn_layers, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(c.is_global_attn(2));
}

TEST(ConfigDefaults, HymbaReuseEveryILayer) {
  const ModelConfig c =
      parse(R"({"model_type": "hymba", "num_hidden_layers": 5, "kv_reuse_every_i_layer": 2})");
  EXPECT_EQ(c.kv_reuse_groups, (std::vector<std::vector<int64_t>>{{0, 1}, {2, 3}}));
  EXPECT_EQ(c.kv_producer(3), 2);
  EXPECT_EQ(c.kv_producer(4), -1);
}

TEST(ConfigDefaults, ArchitecturesFallback) {
  const ModelConfig c = parse(R"({"architectures": ["Mamba2ForCausalLM"], "hidden_size": 64,
                                  "num_heads": 4, "head_dim": 32, "n_groups": 2})");
  EXPECT_EQ(c.arch, Arch::Mamba2);
  EXPECT_EQ(c.model_type, "mamba2");
}

// ---- original mamba_ssm configs ----------------------------------------------------------

TEST(ConfigMambaSsm, Mamba2_130m) {
  const ModelConfig c =
      parse(R"({"d_model": 768, "d_intermediate": 0, "n_layer": 24, "vocab_size": 50277,
      "ssm_cfg": {"layer": "Mamba2"}, "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": true,
      "residual_in_fp32": true, "fused_add_norm": true, "pad_vocab_size_multiple": 16, "tie_embeddings": true})");
  EXPECT_EQ(c.arch, Arch::Mamba2);
  EXPECT_EQ(c.model_type, "mamba2");
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_layers, 24);
  EXPECT_EQ(c.vocab_size, 50288);
  EXPECT_EQ(c.state_size, 128);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.num_heads, 24);
  EXPECT_EQ(c.n_groups, 1);
  EXPECT_EQ(c.conv_kernel, 4);
  EXPECT_EQ(c.chunk_size, 256);
  EXPECT_FALSE(c.use_bias);
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_TRUE(std::isinf(c.dt_limit_hi));
  EXPECT_EQ(c.conv_dim(), 1792);
  EXPECT_EQ(c.in_proj_rows(0), 3352);
  expect_roundtrip(c);
}

TEST(ConfigMambaSsm, Mamba1Defaults) {
  const ModelConfig c =
      parse(R"({"d_model": 768, "n_layer": 24, "vocab_size": 50277, "ssm_cfg": {}})");
  EXPECT_EQ(c.arch, Arch::Mamba1);
  EXPECT_EQ(c.vocab_size, 50280);  // ×8
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.state_size, 16);
  EXPECT_EQ(c.time_step_rank, 48);
  EXPECT_FALSE(c.use_bias);  // mamba_ssm's default, unlike MambaConfig's
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(ConfigMambaSsm, RefusesWhatHfCannotExpress) {
  EXPECT_TRUE(mentions(parse_error(R"({"d_model": 64, "d_intermediate": 128})"),
                       {"t.json", "d_intermediate"}));
  EXPECT_TRUE(mentions(parse_error(R"({"d_model": 64, "ssm_cfg": {"layer": "Mamba3"}})"),
                       {"t.json", "ssm_cfg.layer"}));
  EXPECT_TRUE(mentions(
      parse_error(R"({"d_model": 64, "ssm_cfg": {"layer": "Mamba2", "norm_before_gate": true}})"),
      {"t.json", "ssm_cfg.norm_before_gate"}));
}

// ---- Infinity spellings -----------------------------------------------------------------

TEST(ConfigJson, FloatObjectInfinity) {
  const ModelConfig c =
      parse(R"({"model_type": "mamba2", "hidden_size": 64, "num_heads": 4, "head_dim": 32,
      "n_groups": 1, "time_step_limit": [0.001, {"__float__": "Infinity"}]})");
  EXPECT_DOUBLE_EQ(c.dt_limit_lo, 0.001);
  EXPECT_TRUE(std::isinf(c.dt_limit_hi) && c.dt_limit_hi > 0);
  const json j = json::parse(R"({"a": {"__float__": "Infinity"}, "b": 2.5})");
  EXPECT_TRUE(std::isinf(json_number(j["a"])));
  EXPECT_EQ(json_number(j["b"]), 2.5);
  EXPECT_TRUE(mentions(error_of([&] { json_number(json("x")); }), {"number"}));
}

TEST(ConfigJson, BareTokensOnlyOutsideStrings) {
  const json j =
      parse_json_lenient(R"([Infinity, -Infinity, NaN, "Infinity", "a\"NaN", 1e5])", "x.json");
  ASSERT_EQ(j.size(), 6u);
  EXPECT_TRUE(std::isinf(j[0].get<double>()) && j[0].get<double>() > 0);
  EXPECT_TRUE(std::isinf(j[1].get<double>()) && j[1].get<double>() < 0);
  EXPECT_TRUE(std::isnan(j[2].get<double>()));
  EXPECT_EQ(j[3], "Infinity");
  EXPECT_EQ(j[4], "a\"NaN");
  EXPECT_EQ(j[5].get<double>(), 1e5);
}

// ---- errors name the file -----------------------------------------------------------------

TEST(ConfigErrors, UnknownModelTypeAndMalformedJson) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  write_file_atomic(dir + "/config.json", R"({"model_type": "llama", "hidden_size": 64})");
  EXPECT_TRUE(mentions(error_of([&] { ModelConfig::load(dir); }),
                       {dir + "/config.json", "model_type", "llama"}));
  write_file_atomic(dir + "/config.json", R"({"model_type": "mamba", "hidden_size": 64,)");
  EXPECT_TRUE(mentions(error_of([&] { ModelConfig::load(dir); }),
                       {dir + "/config.json", "malformed JSON"}));
  fs::remove(dir + "/config.json");
  EXPECT_TRUE(
      mentions(error_of([&] { ModelConfig::load(dir); }), {dir + "/config.json", "cannot open"}));
}

TEST(ConfigErrors, WrongTypesAndBadValues) {
  EXPECT_TRUE(mentions(parse_error(R"({"model_type": "mamba", "hidden_size": "128"})"),
                       {"t.json", "hidden_size", "integer"}));
  EXPECT_TRUE(mentions(parse_error(R"({"model_type": "mamba", "hidden_size": 12.5})"),
                       {"t.json", "hidden_size"}));
  EXPECT_TRUE(
      mentions(parse_error(R"({"model_type": "mamba", "use_bias": 1})"), {"t.json", "use_bias"}));
  EXPECT_TRUE(mentions(parse_error(R"({"model_type": "mamba", "hidden_size": 0})"),
                       {"t.json", "hidden_size", "positive"}));
  EXPECT_TRUE(mentions(parse_error(R"({"model_type": "mamba", "hidden_act": "gelu"})"),
                       {"t.json", "hidden_act"}));
  EXPECT_TRUE(mentions(parse_error(R"({"hidden_size": 64})"), {"t.json", "architecture"}));
  EXPECT_TRUE(mentions(parse_error(R"({"architectures": ["LlamaForCausalLM"]})"),
                       {"t.json", "LlamaForCausalLM"}));
  EXPECT_TRUE(mentions(parse_error(R"([1, 2])"), {"t.json", "object"}));
}

TEST(ConfigErrors, InconsistentDims) {
  EXPECT_TRUE(mentions(
      parse_error(
          R"({"model_type": "mamba2", "hidden_size": 64, "num_heads": 3, "head_dim": 32, "n_groups": 1})"),
      {"t.json", "num_heads*head_dim"}));
  EXPECT_TRUE(mentions(
      parse_error(
          R"({"model_type": "mamba2", "hidden_size": 64, "num_heads": 4, "head_dim": 32, "n_groups": 3})"),
      {"t.json", "n_groups"}));
  EXPECT_TRUE(mentions(
      parse_error(R"({"model_type": "mamba2", "hidden_size": 64, "num_heads": 4, "head_dim": 32,
                                       "n_groups": 1, "time_step_limit": [1.0, 0.5]})"),
      {"t.json", "time_step_limit"}));
  EXPECT_TRUE(mentions(
      parse_error(R"({"model_type": "hymba", "num_attention_heads": 4, "num_key_value_heads": 3})"),
      {"t.json", "num_key_value_heads"}));
  EXPECT_TRUE(
      mentions(parse_error(R"({"model_type": "hymba", "hidden_size": 128, "num_attention_heads": 4,
                                       "num_key_value_heads": 2, "kq_head_dim": 16})"),
               {"t.json", "head dim"}));
  EXPECT_TRUE(mentions(
      parse_error(R"({"model_type": "hymba", "num_hidden_layers": 4, "kv_reuse_group": [[2, 1]]})"),
      {"t.json", "kv_reuse_group"}));
  EXPECT_TRUE(mentions(
      parse_error(R"({"model_type": "hymba", "num_hidden_layers": 4, "global_attn_idx": [0, 4]})"),
      {"t.json", "global_attn_idx"}));
  EXPECT_TRUE(mentions(parse_error(R"({"model_type": "hymba", "sliding_window": 0})"),
                       {"t.json", "sliding_window"}));
}

// ---- round trip ---------------------------------------------------------------------------

TEST(Config, ToJsonRoundTrip) {
  for (const char* fixture :
       {"fixtures/tiny-mamba", "fixtures/tiny-mamba2", "fixtures/tiny-hymba"}) {
    SCOPED_TRACE(fixture);
    expect_roundtrip(ModelConfig::load(shared_path(fixture)));
  }
  expect_roundtrip(parse(R"({"model_type": "mamba"})"));
  expect_roundtrip(parse(R"({"model_type": "mamba2"})"));
  expect_roundtrip(parse(R"({"model_type": "hymba"})"));
  expect_roundtrip(
      parse(R"({"model_type": "mamba2", "hidden_size": 96, "expand": 1.5, "num_heads": 9,
                             "head_dim": 16, "n_groups": 3})"));
}

}  // namespace
}  // namespace kllens::test
