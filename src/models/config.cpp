// config.json → ModelConfig for Mamba-1, Mamba-2 (HF and original mamba_ssm form) and
// Hymba, with the defaults of each HF config class (specs/mamba.md §1, specs/hymba.md §2),
// and the way back (to_json) for models kllens writes itself.
#include "kllens/config.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"

namespace kllens {

using nlohmann::json;

namespace {

// Sane limits, far above every real model (Mamba-2 8B: 56 layers, hidden 4096, vocab
// 256 k), low enough that products of sizes stay far from int64 overflow and nothing is
// sized from a forged value before the tensors present are checked against it.
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxWidth = int64_t(1) << 20;   // hidden, inner, state, heads, ...
constexpr int64_t kMaxVocab = int64_t(1) << 24;

// ---- typed access to config keys ------------------------------------------------------

// The keys of one JSON object. As in Python configs, a key set to null means "use the
// default". `prefix` names nested objects in messages ("ssm_cfg.d_state").
class Keys {
 public:
  Keys(const json& j, const std::string& path, std::string prefix = "")
      : j_(j), path_(path), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail_key(const char* key, const std::string& why) const {
    fail("{}: key '{}{}' {}", path_, prefix_, key, why);
  }

  const json* get(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  bool has(const char* key) const { return get(key) != nullptr; }
  bool is_null(const char* key) const {
    auto it = j_.find(key);
    return it != j_.end() && it->is_null();
  }

  int64_t i64(const char* key, int64_t def) const {
    const json* v = get(key);
    if (!v) return def;
    // No config integer comes near 2^31; the bound keeps every product of two sizes far
    // from int64 overflow in the arithmetic below.
    constexpr int64_t kMaxInt = INT32_MAX;
    if (auto i = json_int(*v, -kMaxInt, kMaxInt)) return *i;
    // Some writers store whole numbers as floats (2.0).
    const double d = v->is_number_float() ? v->get<double>() : 0.5;
    if (d == std::trunc(d) && std::fabs(d) <= double(kMaxInt)) return int64_t(d);
    fail_key(key, fmt::format("must be an integer in -{0}..{0}, got {1}", kMaxInt, json_excerpt(*v)));
  }

  // A size, refused above `max` before anything is sized from it (a layer count of 10^12
  // must not reach the loops that list layers).
  int64_t size(const char* key, int64_t def, int64_t max) const {
    const int64_t v = i64(key, def);
    if (v > max) fail_key(key, fmt::format("is {}, above the limit {}", v, max));
    return v;
  }

  double f64(const char* key, double def) const {
    const json* v = get(key);
    if (!v) return def;
    try {
      return json_number(*v);
    } catch (const Error& e) {
      fail_key(key, e.what());
    }
  }

  bool flag(const char* key, bool def) const {
    const json* v = get(key);
    if (!v) return def;
    if (!v->is_boolean()) fail_key(key, fmt::format("must be true or false, got {}", json_excerpt(*v)));
    return v->get<bool>();
  }

  std::string str(const char* key, const std::string& def) const {
    const json* v = get(key);
    if (!v) return def;
    if (!v->is_string()) fail_key(key, fmt::format("must be a string, got {}", json_excerpt(*v)));
    return v->get<std::string>();
  }

  // A Δ rank: an integer or "auto" (→ ceil(H/16) in every family).
  int64_t rank(const char* key, int64_t hidden) const {
    const json* v = get(key);
    if (!v || (v->is_string() && *v == "auto")) return (hidden + 15) / 16;
    if (v->is_string())
      fail_key(key, fmt::format("must be an integer or \"auto\", got {}", json_excerpt(*v)));
    return i64(key, 0);
  }

  std::vector<int64_t> int_list(const char* key) const {
    const json* v = get(key);
    std::vector<int64_t> out;
    if (!v) return out;
    if (!v->is_array()) fail_key(key, fmt::format("must be a list of integers, got {}", json_excerpt(*v)));
    for (const json& e : *v) {
      const auto i = json_int(e, INT32_MIN, INT32_MAX);
      if (!i) fail_key(key, fmt::format("must be a list of integers, got {}", json_excerpt(*v)));
      out.push_back(*i);
    }
    return out;
  }

  // Only `want` is implemented; anything else is refused rather than silently misread.
  void require(const char* key, const json& want, const json& def) const {
    const json* v = get(key);
    const json& got = v ? *v : def;
    if (got != want)
      fail_key(key, fmt::format("is {}; kllens supports only {}", json_excerpt(got), json_excerpt(want)));
  }

  const std::string& path() const { return path_; }

 private:
  const json& j_;
  const std::string& path_;
  std::string prefix_;
};

// Python's int(expand * hidden).
int64_t expanded(double expand, int64_t hidden) {
  return int64_t(std::trunc(expand * double(hidden)));
}

// An `expand` value that gives back I through int(expand * H).
json expand_json(int64_t inner, int64_t hidden) {
  if (hidden <= 0 || inner <= 0) fail("config: sizes {} and {} are not positive", inner, hidden);
  if (inner % hidden == 0) return inner / hidden;
  for (double e = double(inner) / double(hidden); e < double(inner) / double(hidden) * (1 + 1e-12);
       e = std::nextafter(e, INFINITY))
    if (expanded(e, hidden) == inner) return e;
  fail("config: intermediate size {} is not int(expand * {}) for any expand", inner, hidden);
}

// (lo, hi) from a [lo, hi] list whose entries may be Infinity in either spelling.
void read_dt_limit(const Keys& k, const char* key, ModelConfig& c) {
  const json* v = k.get(key);
  if (!v) return;
  if (!v->is_array() || v->size() != 2)
    k.fail_key(key, fmt::format("must be [lo, hi], got {}", json_excerpt(*v)));
  try {
    c.dt_limit_lo = json_number((*v)[0]);
    c.dt_limit_hi = json_number((*v)[1]);
  } catch (const Error& e) {
    k.fail_key(key, e.what());
  }
}

void require_silu(const Keys& k, const char* key) { k.require(key, "silu", "silu"); }

// ---- the families ----------------------------------------------------------------------

// HF MambaConfig (specs/mamba.md §1.1).
void parse_mamba1(const Keys& k, ModelConfig& c) {
  c.arch = Arch::Mamba1;
  c.vocab_size = k.i64("vocab_size", 50280);
  c.hidden_size = k.i64("hidden_size", 768);
  c.num_layers = k.size("num_hidden_layers", 32, kMaxLayers);
  c.state_size = k.i64("state_size", 16);
  // transformers 4.x: a stored intermediate_size overrides the expand·H computed in __init__.
  c.intermediate_size = k.has("intermediate_size") ? k.i64("intermediate_size", 0)
                                                   : expanded(k.f64("expand", 2), c.hidden_size);
  c.conv_kernel = k.i64("conv_kernel", 4);
  c.time_step_rank = k.rank("time_step_rank", c.hidden_size);
  c.norm_eps = k.f64("layer_norm_epsilon", 1e-5);
  c.use_bias = k.flag("use_bias", true);  // the class default is True
  c.use_conv_bias = k.flag("use_conv_bias", true);
  c.residual_in_fp32 = k.flag("residual_in_fp32", true);
  c.tie_word_embeddings = k.flag("tie_word_embeddings", true);
  require_silu(k, "hidden_act");
}

// HF Mamba2Config (specs/mamba.md §1.2).
void parse_mamba2(const Keys& k, ModelConfig& c) {
  c.arch = Arch::Mamba2;
  c.vocab_size = k.i64("vocab_size", 32768);
  c.hidden_size = k.i64("hidden_size", 4096);
  c.num_layers = k.size("num_hidden_layers", 64, kMaxLayers);
  c.intermediate_size =
      expanded(k.f64("expand", 2), c.hidden_size);  // intermediate_size key ignored
  c.num_heads = k.i64("num_heads", 128);
  c.head_dim = k.i64("head_dim", 64);
  c.n_groups = k.i64("n_groups", 8);
  c.state_size = k.i64("state_size", 128);
  c.conv_kernel = k.i64("conv_kernel", 4);
  c.chunk_size = k.i64("chunk_size", 256);
  c.time_step_rank = k.rank("time_step_rank", c.hidden_size);  // unused by Mamba-2
  c.norm_eps = k.f64("layer_norm_epsilon", 1e-5);
  c.use_bias = k.flag("use_bias", false);
  c.use_conv_bias = k.flag("use_conv_bias", true);
  c.residual_in_fp32 = k.flag("residual_in_fp32", true);
  c.tie_word_embeddings = k.flag("tie_word_embeddings", false);  // the class default is False
  read_dt_limit(k, "time_step_limit", c);
  require_silu(k, "hidden_act");
}

// Original mamba_ssm config (MambaLMHeadModel, specs/mamba.md §1.3).
void parse_mamba_ssm(const Keys& k, ModelConfig& c) {
  c.hidden_size = k.i64("d_model", 2560);
  c.num_layers = k.size("n_layer", 64, kMaxLayers);
  const int64_t vocab = k.i64("vocab_size", 50277), multiple = k.i64("pad_vocab_size_multiple", 8);
  if (multiple < 1)
    k.fail_key("pad_vocab_size_multiple", fmt::format("must be >= 1, got {}", multiple));
  c.vocab_size = (vocab + multiple - 1) / multiple * multiple;  // mamba_ssm pads up
  c.tie_word_embeddings = k.flag("tie_embeddings", true);
  c.residual_in_fp32 = k.flag("residual_in_fp32", true);
  c.norm_eps = 1e-5;  // MambaLMHeadModel never passes norm_epsilon
  k.require("rms_norm", true, true);
  k.require("d_intermediate", 0, 0);
  k.require("attn_layer_idx", json::array(), json::array());

  const json empty = json::object();
  const json* jssm = k.get("ssm_cfg");
  if (jssm && !jssm->is_object())
    k.fail_key("ssm_cfg", fmt::format("must be an object, got {}", json_excerpt(*jssm)));
  const Keys s(jssm ? *jssm : empty, k.path(), "ssm_cfg.");
  const std::string layer = s.str("layer", "Mamba1");
  if (layer == "Mamba1") {
    c.arch = Arch::Mamba1;
    c.state_size = s.i64("d_state", 16);
    c.conv_kernel = s.i64("d_conv", 4);
    c.intermediate_size = expanded(s.f64("expand", 2), c.hidden_size);
    c.time_step_rank = s.rank("dt_rank", c.hidden_size);
    c.use_bias = s.flag("bias", false);
    c.use_conv_bias = s.flag("conv_bias", true);
  } else if (layer == "Mamba2") {
    c.arch = Arch::Mamba2;
    c.state_size = s.i64("d_state", 128);
    c.conv_kernel = s.i64("d_conv", 4);
    c.intermediate_size = expanded(s.f64("expand", 2), c.hidden_size);
    c.head_dim = s.i64("headdim", 64);
    if (c.head_dim <= 0) s.fail_key("headdim", fmt::format("must be positive, got {}", c.head_dim));
    c.num_heads = c.intermediate_size / c.head_dim;
    c.n_groups = s.i64("ngroups", 1);
    c.chunk_size = s.i64("chunk_size", 256);
    c.time_step_rank = (c.hidden_size + 15) / 16;
    c.use_bias = s.flag("bias", false);
    c.use_conv_bias = s.flag("conv_bias", true);
    read_dt_limit(s, "dt_limit", c);
    s.require("rmsnorm", true, true);
    s.require("norm_before_gate", false, false);
    s.require("D_has_hdim", false, false);
    s.require("d_ssm", nullptr, nullptr);
  } else {
    s.fail_key("layer", fmt::format("is \"{}\"; expected \"Mamba1\" or \"Mamba2\"", excerpt(layer)));
  }
  c.model_type = std::string(arch_name(c.arch));
}

// HymbaConfig of the HF remote code (specs/hymba.md §2).
void parse_hymba(const Keys& k, ModelConfig& c) {
  c.arch = Arch::Hymba;
  c.vocab_size = k.i64("vocab_size", 65536);
  c.tie_word_embeddings = k.flag("tie_word_embeddings", false);
  c.hidden_size = k.i64("hidden_size", 4096);
  c.mlp_size = k.i64("intermediate_size", 14336);
  c.num_layers = k.size("num_hidden_layers", 32, kMaxLayers);
  c.num_attention_heads = k.i64("num_attention_heads", 32);
  // Absent: the class default 8; an explicit null: as many as the attention heads.
  c.num_kv_heads =
      k.is_null("num_key_value_heads") ? c.num_attention_heads : k.i64("num_key_value_heads", 8);
  c.norm_eps = k.f64("rms_norm_eps", 1e-6);
  c.residual_in_fp32 = false;  // Hymba keeps no fp32 residual option
  // null (the class default) means no window; HF would apply an explicit 0 as a window
  // of 0, so only positive values are accepted.
  c.sliding_window = k.i64("sliding_window", 0);
  if (k.has("sliding_window") && c.sliding_window <= 0)
    k.fail_key("sliding_window", fmt::format("must be positive or null, got {}", c.sliding_window));
  c.max_position_embeddings = k.i64("max_position_embeddings", 262144);
  c.orig_max_position_embeddings = k.i64("orig_max_position_embeddings", 0);
  c.state_size = k.i64("mamba_d_state", 16);
  c.conv_kernel = k.i64("mamba_d_conv", 4);
  const double expand = k.f64("mamba_expand", 2);
  c.intermediate_size = expanded(expand, c.hidden_size);
  c.time_step_rank = k.rank("mamba_dt_rank", c.hidden_size);
  c.use_conv_bias = k.flag("mamba_conv_bias", true);
  c.use_bias = k.flag("mamba_proj_bias", false);
  c.inner_layernorms = k.flag("mamba_inner_layernorms", true);
  c.num_meta_tokens = k.i64("num_memory_tokens", 0);
  c.rope = k.flag("rope", false);
  c.rope_theta = k.f64("rope_theta", 10000.0);
  c.rope_type = k.str("rope_type", "");
  if (c.rope_type == "default") c.rope_type = "";
  if (c.rope_type != "" && c.rope_type != "ntk")
    k.fail_key("rope_type", fmt::format("is \"{}\"; kllens supports null, \"default\" and \"ntk\"",
                                        excerpt(c.rope_type)));
  c.mlp_act = k.str("mlp_hidden_act", "silu");
  if (c.mlp_act != "silu" && c.mlp_act != "relu2")
    k.fail_key("mlp_hidden_act",
               fmt::format("is \"{}\"; expected \"silu\" or \"relu2\"", excerpt(c.mlp_act)));
  require_silu(k, "hidden_act");
  k.require("memory_tokens_interspersed_every", 0, 0);
  if (const std::string kq_norm = k.str("kq_norm", "none"); kq_norm != "none")
    k.fail_key("kq_norm", fmt::format("is \"{}\"; kllens supports only \"none\"", excerpt(kq_norm)));

  const int64_t H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_kv_heads;
  if (nh <= 0 || nkv <= 0 || nh % nkv != 0)
    fail("{}: num_key_value_heads {} must be positive and divide num_attention_heads {}", k.path(),
         nkv, nh);
  // HymbaBlock sizes the attention with hidden_size whatever attn_hidden_size says.
  if (const int64_t a = k.i64("attn_hidden_size", -1); a > 0 && a != H)
    k.fail_key("attn_hidden_size",
               fmt::format("is {}; kllens supports only <= 0 or hidden_size {}", a, H));
  const int64_t kq = k.i64("kq_head_dim", -1);
  c.qk_head_dim = kq > 0 ? kq : H / nh;
  c.v_head_dim = c.intermediate_size / nh;  // HymbaBlock overwrites the config's v_head_dim
  if (c.qk_head_dim * nh != H)
    fail("{}: num_attention_heads {} x q/k head dim {} != hidden_size {}", k.path(), nh,
         c.qk_head_dim, H);
  if (c.v_head_dim * nh != c.intermediate_size)
    fail(
        "{}: num_attention_heads {} does not divide the SSM width int(mamba_expand*hidden_size) = "
        "{}",
        k.path(), nh, c.intermediate_size);
  // HF computes the k and v widths with float division; they must agree with the heads.
  const int64_t k_hidden = int64_t(double(nkv) / double(nh) * double(H));
  const int64_t v_hidden = int64_t(double(nkv) / double(nh) * double(H) * expand);
  if (k_hidden != nkv * c.qk_head_dim || v_hidden != nkv * c.v_head_dim)
    fail("{}: k/v widths {}/{} (from nkv/nh*hidden) != num_key_value_heads x head dims {}/{}",
         k.path(), k_hidden, v_hidden, nkv * c.qk_head_dim, nkv * c.v_head_dim);

  // Without global_attn_idx HF attends globally in every layer (the window applies only
  // to layers missing from a given list).
  if (k.has("global_attn_idx")) {
    c.global_attn_layers = k.int_list("global_attn_idx");
  } else {
    for (int64_t l = 0; l < c.num_layers; ++l) c.global_attn_layers.push_back(l);
  }
  for (int64_t l : c.global_attn_layers)
    if (l < 0 || l >= c.num_layers)
      k.fail_key("global_attn_idx",
                 fmt::format("names layer {}, outside 0..{}", l, c.num_layers - 1));

  if (const json* g = k.get("kv_reuse_group")) {
    if (!g->is_array())
      k.fail_key("kv_reuse_group", fmt::format("must be a list of lists, got {}", json_excerpt(*g)));
    for (const json& group : *g) {
      if (!group.is_array() || group.empty() ||
          !std::all_of(group.begin(), group.end(),
                       [](const json& e) { return json_int(e, INT32_MIN, INT32_MAX).has_value(); }))
        k.fail_key("kv_reuse_group",
                   fmt::format("has {}, not a list of layer indices", json_excerpt(group)));
      c.kv_reuse_groups.push_back(group.get<std::vector<int64_t>>());
    }
  } else if (const int64_t every = k.size("kv_reuse_every_i_layer", -1, kMaxLayers); every > 0) {
    // Layer i reuses layer i-1's K/V when i % every != 0: groups of `every` layers.
    for (int64_t p = 0; p < c.num_layers; p += every) {
      std::vector<int64_t> group;
      for (int64_t l = p; l < std::min(p + every, c.num_layers); ++l) group.push_back(l);
      if (group.size() > 1) c.kv_reuse_groups.push_back(group);
    }
  }
  std::set<int64_t> seen;
  for (const auto& group : c.kv_reuse_groups)
    for (size_t i = 0; i < group.size(); ++i) {
      const int64_t l = group[i];
      if (l < 0 || l >= c.num_layers || !seen.insert(l).second || (i > 0 && l <= group[0]))
        k.fail_key("kv_reuse_group",
                   fmt::format("group {} is invalid: layers must be in 0..{}, in one group "
                               "only, and consumers must follow their producer",
                               json_excerpt(json(group)), c.num_layers - 1));
    }

  if (c.rope && c.rope_type == "ntk" &&
      (c.orig_max_position_embeddings <= 0 || c.max_position_embeddings <= 0 || c.qk_head_dim <= 2))
    fail(
        "{}: rope_type \"ntk\" needs positive max_position_embeddings and "
        "orig_max_position_embeddings",
        k.path());
}

// Checks shared by every family: positive sizes and Mamba-2's head arithmetic.
void validate(const ModelConfig& c, const std::string& path) {
  auto positive = [&](const char* what, int64_t v) {
    if (v <= 0) fail("{}: {} must be positive, got {}", path, what, v);
  };
  auto at_most = [&](const char* what, int64_t v, int64_t max) {
    if (v > max) fail("{}: {} is {}, above the limit {}", path, what, v, max);
  };
  at_most("vocab_size", c.vocab_size, kMaxVocab);
  at_most("number of layers", c.num_layers, kMaxLayers);
  for (const auto& [what, v] : {std::pair<const char*, int64_t>{"hidden_size", c.hidden_size},
                                {"SSM inner size", c.intermediate_size},
                                {"state size", c.state_size},
                                {"conv kernel", c.conv_kernel},
                                {"time step rank", c.time_step_rank},
                                {"num_heads", c.num_heads},
                                {"head_dim", c.head_dim},
                                {"n_groups", c.n_groups},
                                {"chunk_size", c.chunk_size},
                                {"MLP size", c.mlp_size},
                                {"num_attention_heads", c.num_attention_heads},
                                {"num_key_value_heads", c.num_kv_heads},
                                {"num_memory_tokens", c.num_meta_tokens}})
    at_most(what, v, kMaxWidth);
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("number of layers", c.num_layers);
  positive("SSM inner size (intermediate_size / expand*hidden_size)", c.intermediate_size);
  positive("state size", c.state_size);
  positive("conv kernel", c.conv_kernel);
  positive("time step rank", c.time_step_rank);
  if (!(c.norm_eps > 0) || !std::isfinite(c.norm_eps))
    fail("{}: norm epsilon must be positive and finite, got {}", path, c.norm_eps);
  if (c.arch == Arch::Mamba2) {
    positive("num_heads", c.num_heads);
    positive("head_dim", c.head_dim);
    positive("n_groups", c.n_groups);
    positive("chunk_size", c.chunk_size);
    if (c.num_heads * c.head_dim != c.intermediate_size)
      fail("{}: num_heads*head_dim = {}*{} = {} != expand*hidden_size = {}", path, c.num_heads,
           c.head_dim, c.num_heads * c.head_dim, c.intermediate_size);
    if (c.num_heads % c.n_groups != 0)
      fail("{}: n_groups {} does not divide num_heads {}", path, c.n_groups, c.num_heads);
    if (!(c.dt_limit_lo >= 0 && c.dt_limit_lo <= c.dt_limit_hi))
      fail("{}: time_step_limit [{}, {}] must satisfy 0 <= lo <= hi", path, c.dt_limit_lo,
           c.dt_limit_hi);
  }
  if (c.arch == Arch::Hymba) {
    if (c.mlp_size < 0) fail("{}: intermediate_size (MLP) must be >= 0, got {}", path, c.mlp_size);
    if (c.num_meta_tokens < 0)
      fail("{}: num_memory_tokens must be >= 0, got {}", path, c.num_meta_tokens);
  }
}

std::optional<Arch> arch_from_architectures(const Keys& k) {
  const json* a = k.get("architectures");
  if (!a || !a->is_array()) return std::nullopt;
  for (const json& name : *a) {
    if (name == "MambaForCausalLM") return Arch::Mamba1;
    if (name == "Mamba2ForCausalLM") return Arch::Mamba2;
    if (name == "HymbaForCausalLM") return Arch::Hymba;
  }
  k.fail_key("architectures", fmt::format("is {}; expected MambaForCausalLM, Mamba2ForCausalLM or "
                                          "HymbaForCausalLM",
                                          json_excerpt(*a)));
}

}  // namespace

// ---- ModelConfig ----------------------------------------------------------------------

std::string_view arch_name(Arch a) {
  switch (a) {
    case Arch::Mamba1: return "mamba";
    case Arch::Mamba2: return "mamba2";
    case Arch::Hymba: return "hymba";
  }
  return "?";
}

ModelConfig ModelConfig::load(const std::string& dir) {
  const std::string path = dir + "/config.json";
  return from_json(read_json_file_lenient(path), path);
}

ModelConfig ModelConfig::from_json(const json& j, const std::string& path) {
  if (!j.is_object()) fail("{}: config is a JSON {}, not an object", path, j.type_name());
  const Keys k(j, path);
  ModelConfig c;
  std::optional<Arch> arch;
  if (k.has("model_type")) {
    const std::string mt = k.str("model_type", "");
    if (mt == "mamba")
      arch = Arch::Mamba1;
    else if (mt == "mamba2")
      arch = Arch::Mamba2;
    else if (mt == "hymba")
      arch = Arch::Hymba;
    else
      fail("{}: unknown model_type \"{}\" (expected mamba, mamba2 or hymba)", path, excerpt(mt));
  } else {
    arch = arch_from_architectures(k);
  }
  if (arch) {
    c.model_type = std::string(arch_name(*arch));
    if (*arch == Arch::Mamba1)
      parse_mamba1(k, c);
    else if (*arch == Arch::Mamba2)
      parse_mamba2(k, c);
    else
      parse_hymba(k, c);
  } else if (k.has("d_model")) {
    parse_mamba_ssm(k, c);
  } else {
    fail("{}: cannot tell the architecture: no model_type, architectures or d_model", path);
  }
  validate(c, path);
  return c;
}

json ModelConfig::to_json() const {
  json j;
  j["model_type"] = arch_name(arch);
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_layers;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["hidden_act"] = "silu";
  switch (arch) {
    case Arch::Mamba1:
      j["architectures"] = {"MambaForCausalLM"};
      j["intermediate_size"] = intermediate_size;  // overrides expand
      j["state_size"] = state_size;
      j["conv_kernel"] = conv_kernel;
      j["time_step_rank"] = time_step_rank;
      j["layer_norm_epsilon"] = norm_eps;
      j["use_bias"] = use_bias;
      j["use_conv_bias"] = use_conv_bias;
      j["residual_in_fp32"] = residual_in_fp32;
      break;
    case Arch::Mamba2:
      j["architectures"] = {"Mamba2ForCausalLM"};
      j["expand"] = expand_json(intermediate_size, hidden_size);
      j["num_heads"] = num_heads;
      j["head_dim"] = head_dim;
      j["n_groups"] = n_groups;
      j["state_size"] = state_size;
      j["conv_kernel"] = conv_kernel;
      j["chunk_size"] = chunk_size;
      j["time_step_rank"] = time_step_rank;
      j["layer_norm_epsilon"] = norm_eps;
      j["use_bias"] = use_bias;
      j["use_conv_bias"] = use_conv_bias;
      j["residual_in_fp32"] = residual_in_fp32;
      j["rms_norm"] = true;
      // Infinity has no strict-JSON spelling; {"__float__": "Infinity"} is transformers v5's.
      j["time_step_limit"] = {json_float(dt_limit_lo), json_float(dt_limit_hi)};
      break;
    case Arch::Hymba:
      j["architectures"] = {"HymbaForCausalLM"};
      j["intermediate_size"] = mlp_size;
      j["num_attention_heads"] = num_attention_heads;
      j["num_key_value_heads"] = num_kv_heads;
      j["attn_hidden_size"] = -1;
      j["kq_head_dim"] = qk_head_dim;
      j["v_head_dim"] = v_head_dim;
      j["kq_norm"] = "none";
      j["rms_norm_eps"] = norm_eps;
      j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json(nullptr);
      j["global_attn_idx"] = global_attn_layers;
      j["kv_reuse_group"] = kv_reuse_groups;
      j["kv_reuse_every_i_layer"] = -1;
      j["max_position_embeddings"] = max_position_embeddings;
      j["orig_max_position_embeddings"] =
          orig_max_position_embeddings > 0 ? json(orig_max_position_embeddings) : json(nullptr);
      j["mamba_d_state"] = state_size;
      j["mamba_d_conv"] = conv_kernel;
      j["mamba_expand"] = expand_json(intermediate_size, hidden_size);
      j["mamba_dt_rank"] = time_step_rank;
      j["mamba_conv_bias"] = use_conv_bias;
      j["mamba_proj_bias"] = use_bias;
      j["mamba_inner_layernorms"] = inner_layernorms;
      j["num_memory_tokens"] = num_meta_tokens;
      j["memory_tokens_interspersed_every"] = 0;
      j["rope"] = rope;
      j["rope_theta"] = rope_theta;
      j["rope_type"] = rope_type.empty() ? json(nullptr) : json(rope_type);
      j["mlp_hidden_act"] = mlp_act;
      j["num_mamba"] = 1;
      j["num_experts"] = 1;
      j["num_experts_per_tok"] = 1;
      break;
  }
  return j;
}

// ---- derived sizes ----------------------------------------------------------------------

int64_t ModelConfig::conv_dim() const {
  return arch == Arch::Mamba2 ? intermediate_size + 2 * n_groups * state_size : intermediate_size;
}

int64_t ModelConfig::in_proj_rows(int64_t layer) const {
  KL_CHECK(layer >= 0 && layer < num_layers, "layer {} of {}", layer, num_layers);
  const int64_t I = intermediate_size;
  switch (arch) {
    case Arch::Mamba1: return 2 * I;
    case Arch::Mamba2: return 2 * I + 2 * n_groups * state_size + num_heads;
    case Arch::Hymba: {
      // rows: q | k | v | x | z; a KV consumer has no k and v rows.
      const int64_t q = num_attention_heads * qk_head_dim;
      if (kv_producer(layer) >= 0) return q + 2 * I;
      return q + num_kv_heads * (qk_head_dim + v_head_dim) + 2 * I;
    }
  }
  return 0;
}

int ModelConfig::kv_producer(int64_t layer) const {
  for (const auto& group : kv_reuse_groups)
    for (size_t i = 1; i < group.size(); ++i)
      if (group[i] == layer) return int(group[0]);
  return -1;
}

bool ModelConfig::is_global_attn(int64_t layer) const {
  if (arch != Arch::Hymba) return false;  // no attention at all
  if (sliding_window <= 0) return true;
  return std::find(global_attn_layers.begin(), global_attn_layers.end(), layer) !=
         global_attn_layers.end();
}

}  // namespace kllens
