// The name table of gguf_names.h: one row per block tensor, read in both directions.
#include "models/gguf_names.h"

#include <charconv>

namespace kllens::gguf {

std::string architecture(Arch arch) {
  switch (arch) {
    case Arch::Mamba1: return "mamba";
    case Arch::Mamba2: return "mamba2";
    case Arch::Hymba: return "kllens-hymba";
  }
  return "?";
}

bool is_llama_cpp_arch(Arch arch) { return arch == Arch::Mamba1 || arch == Arch::Mamba2; }

namespace {

// Block tensors: HF "backbone.layers.{i}.<hf>" ↔ GGUF "blk.{i}.<gguf>".
struct Row {
  const char* hf;
  const char* gguf;
  bool mamba1, mamba2;
};
constexpr Row kBlock[] = {
    {"norm.weight", "attn_norm.weight", true, true},
    {"mixer.in_proj.weight", "ssm_in.weight", true, true},
    {"mixer.in_proj.bias", "ssm_in.bias", true, true},
    {"mixer.conv1d.weight", "ssm_conv1d.weight", true, true},
    {"mixer.conv1d.bias", "ssm_conv1d.bias", true, true},
    {"mixer.x_proj.weight", "ssm_x.weight", true, false},
    {"mixer.dt_proj.weight", "ssm_dt.weight", true, false},
    {"mixer.dt_proj.bias", "ssm_dt.bias", true, false},
    {"mixer.dt_bias", "ssm_dt.bias", false, true},
    {"mixer.A_log", "ssm_a", true, true},
    {"mixer.D", "ssm_d", true, true},
    {"mixer.norm.weight", "ssm_norm.weight", false, true},
    {"mixer.out_proj.weight", "ssm_out.weight", true, true},
    {"mixer.out_proj.bias", "ssm_out.bias", true, true},
};

// "PREFIX<int>.REST" → (int, REST).
std::optional<std::pair<int64_t, std::string>> split_block(const std::string& s,
                                                           const std::string& prefix) {
  if (!s.starts_with(prefix)) return std::nullopt;
  const size_t dot = s.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return std::nullopt;
  int64_t i = 0;
  const char* b = s.data() + prefix.size();
  const char* e = s.data() + dot;
  auto [p, ec] = std::from_chars(b, e, i);
  if (ec != std::errc() || p != e || i < 0) return std::nullopt;
  return std::make_pair(i, s.substr(dot + 1));
}

bool in_arch(const Row& r, Arch a) { return a == Arch::Mamba1 ? r.mamba1 : r.mamba2; }

// GGUF shape of a block tensor from its HF shape.
Shape gguf_shape(const ModelConfig& c, const std::string& hf, const Shape& s) {
  if (hf == "mixer.conv1d.weight") return {s[0], s.back()};  // [C, 1, K] → [C, K]
  if (c.arch == Arch::Mamba2 && (hf == "mixer.A_log" || hf == "mixer.D")) return {s[0], 1};
  if (hf == "mixer.norm.weight") return {c.n_groups, c.intermediate_size / c.n_groups};
  return s;
}

Shape hf_shape(const ModelConfig& c, const std::string& hf, const Shape& s) {
  if (hf == "mixer.conv1d.weight" && s.size() == 2) return {s[0], 1, s[1]};
  if (c.arch == Arch::Mamba2 && (hf == "mixer.A_log" || hf == "mixer.D") && s.size() == 2 && s[1] == 1)
    return {s[0]};
  if (hf == "mixer.norm.weight" && s.size() == 2) return {s[0] * s[1]};
  return s;
}

}  // namespace

std::optional<Mapped> to_gguf(const ModelConfig& c, const std::string& hf, const Shape& shape) {
  if (hf == "backbone.embeddings.weight" || hf == "backbone.embedding.weight")
    return Mapped{"token_embd.weight", shape};
  if (hf == "backbone.norm_f.weight") return Mapped{"output_norm.weight", shape};
  if (hf == "lm_head.weight") return Mapped{"output.weight", shape};
  const auto blk = split_block(hf, "backbone.layers.");
  if (!blk) return std::nullopt;
  if (blk->second == "mixer.A")  // A itself, from a GGUF source: already −exp(A_log)
    return Mapped{"blk." + std::to_string(blk->first) + ".ssm_a", gguf_shape(c, "mixer.A_log", shape)};
  for (const Row& r : kBlock)
    if (in_arch(r, c.arch) && blk->second == r.hf)
      return Mapped{"blk." + std::to_string(blk->first) + "." + r.gguf,
                    gguf_shape(c, r.hf, shape),
                    blk->second == "mixer.A_log" ? Transform::NegExp : Transform::None};
  return std::nullopt;
}

std::optional<Mapped> from_gguf(const ModelConfig& c, const std::string& name, const Shape& shape) {
  if (name == "token_embd.weight") return Mapped{"backbone.embeddings.weight", shape};
  if (name == "output_norm.weight") return Mapped{"backbone.norm_f.weight", shape};
  if (name == "output.weight") return Mapped{"lm_head.weight", shape};
  const auto blk = split_block(name, "blk.");
  if (!blk) return std::nullopt;
  for (const Row& r : kBlock)
    if (in_arch(r, c.arch) && blk->second == r.gguf) {
      const std::string hf = r.hf;
      // A keeps llama.cpp's values (−exp(A_log)); load_A reads "<mixer>.A" as A itself.
      const std::string hf_name = hf == "mixer.A_log" ? "mixer.A" : hf;
      return Mapped{"backbone.layers." + std::to_string(blk->first) + "." + hf_name,
                    hf_shape(c, hf, shape)};
    }
  return std::nullopt;
}

}  // namespace kllens::gguf
