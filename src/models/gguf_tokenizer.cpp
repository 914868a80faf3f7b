// llama.cpp's tokenizer metadata (tokenizer.ggml.*) from a Hugging Face tokenizer.json.
//
// Token types are llama.cpp's: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused,
// 6 byte. "gpt2" vocabularies carry the merges (llama.cpp's BPE uses their ranks) and the
// pre-tokenizer name "gpt-2" (the GPT-2 regex, which a ByteLevel pre-tokenizer with
// use_regex applies). "llama" vocabularies are scored instead of merged: llama.cpp's SPM
// tokenizer joins the highest-scored pair first, so a token made by merge rank r scores −r
// (the first merge scores highest), which reproduces BPE's merge order.
#include <map>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "kllens/error.h"
#include "models/gguf_names.h"

namespace kllens::gguf {

namespace {

enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

nlohmann::json parse(const std::string& text, const std::string& what) {
  return parse_json(text, what);  // the bounded parser (src/core/json.h)
}

// "a b" or ["a", "b"] (both spellings of tokenizer.json merges) → "a b".
std::string merge_text(const nlohmann::json& m) {
  if (m.is_string()) return m.get<std::string>();
  return m.at(0).get<std::string>() + " " + m.at(1).get<std::string>();
}

bool has_byte_level(const nlohmann::json& pre) {
  if (!pre.is_object()) return false;
  if (pre.value("type", "") == "ByteLevel") return true;
  if (pre.value("type", "") == "Sequence")
    for (const auto& p : pre.value("pretokenizers", nlohmann::json::array()))
      if (has_byte_level(p)) return true;
  return false;
}

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.starts_with("<0x") && t.back() == '>' && std::isxdigit(uint8_t(t[3])) &&
         std::isxdigit(uint8_t(t[4]));
}

}  // namespace

void add_tokenizer_keys(const std::string& tokenizer_json, const std::string& tokenizer_config,
                        int64_t vocab, const std::string& source,
                        std::vector<std::pair<std::string, GgufValue>>& kv) {
  const nlohmann::json tj = parse(tokenizer_json, source + "/tokenizer.json");
  const nlohmann::json cfg = tokenizer_config.empty()
                                 ? nlohmann::json::object()
                                 : parse(tokenizer_config, source + "/tokenizer_config.json");
  try {
    const nlohmann::json& model = tj.at("model");
    if (model.value("type", "") != "BPE")
      fail("{}/tokenizer.json: a {} model; GGUF export handles BPE tokenizers", source,
           model.value("type", "?"));
    const bool byte_fallback = model.value("byte_fallback", false);
    const bool byte_level = has_byte_level(tj.value("pre_tokenizer", nlohmann::json()));
    if (byte_fallback == byte_level)
      fail("{}/tokenizer.json: neither byte-level BPE nor SentencePiece-style BPE with byte "
           "fallback", source);

    std::vector<std::string> tokens(static_cast<size_t>(vocab));
    std::vector<int32_t> types(size_t(vocab), kUnused);
    std::vector<bool> known(size_t(vocab), false);
    const auto put = [&](const std::string& text, const nlohmann::json& id_json, int32_t type) {
      const auto id = json_int(id_json, 0, vocab - 1);
      if (!id)
        fail("{}/tokenizer.json: token '{}' has id {}, the model has {} embedding rows", source,
             excerpt(text), json_excerpt(id_json), vocab);
      tokens[size_t(*id)] = text;
      types[size_t(*id)] = type;
      known[size_t(*id)] = true;
    };
    for (const auto& [text, id] : model.at("vocab").items())
      put(text, id, byte_fallback && is_byte_token(text) ? kByte : kNormal);
    for (const auto& a : tj.value("added_tokens", nlohmann::json::array()))
      put(a.at("content").get<std::string>(), a.at("id"),
          a.value("special", false) ? kControl : kUserDefined);
    for (int64_t i = 0; i < vocab; ++i)
      if (!known[size_t(i)]) tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";

    std::map<std::string, int32_t> id_of;
    for (int64_t i = 0; i < vocab; ++i) id_of.emplace(tokens[size_t(i)], int32_t(i));
    const auto special = [&](const char* key) -> std::optional<int32_t> {
      const nlohmann::json v = cfg.value(key, nlohmann::json());
      const nlohmann::json c = v.is_object() ? v.value("content", nlohmann::json()) : v;
      if (!c.is_string()) return std::nullopt;
      auto it = id_of.find(c.get<std::string>());
      return it == id_of.end() ? std::nullopt : std::optional<int32_t>(it->second);
    };
    std::optional<int32_t> unk = special("unk_token");
    if (!unk && model.contains("unk_token") && model["unk_token"].is_string())
      if (auto it = id_of.find(model["unk_token"].get<std::string>()); it != id_of.end()) unk = it->second;
    if (byte_fallback && unk) types[size_t(*unk)] = kUnknown;

    std::vector<std::string> merges;
    for (const auto& m : model.value("merges", nlohmann::json::array())) merges.push_back(merge_text(m));

    kv.emplace_back("tokenizer.ggml.model", GgufValue::string(byte_level ? "gpt2" : "llama"));
    if (byte_level) kv.emplace_back("tokenizer.ggml.pre", GgufValue::string("gpt-2"));
    if (!byte_level) {
      // Score −rank for the token a merge makes; tokens no merge makes score below all.
      std::vector<float> scores(size_t(vocab), -1e9f);
      for (size_t r = 0; r < merges.size(); ++r) {
        const size_t sp = merges[r].find(' ');
        const std::string joined = merges[r].substr(0, sp) + merges[r].substr(sp + 1);
        if (auto it = id_of.find(joined); it != id_of.end() && scores[size_t(it->second)] < -1e8f)
          scores[size_t(it->second)] = -float(r);
      }
      kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(tokens));
      kv.emplace_back("tokenizer.ggml.scores", GgufValue::floats(std::move(scores)));
    } else {
      kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(tokens));
    }
    kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32s(std::move(types)));
    if (byte_level) kv.emplace_back("tokenizer.ggml.merges", GgufValue::strings(std::move(merges)));
    if (auto id = special("bos_token")) kv.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(uint32_t(*id)));
    if (auto id = special("eos_token")) kv.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(uint32_t(*id)));
    if (unk) kv.emplace_back("tokenizer.ggml.unknown_token_id", GgufValue::u32(uint32_t(*unk)));
    if (auto id = special("pad_token")) kv.emplace_back("tokenizer.ggml.padding_token_id", GgufValue::u32(uint32_t(*id)));
    // As the tokenizer_config says (HF's default: no BOS, no EOS); kllens never adds them.
    kv.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(cfg.value("add_bos_token", false)));
    kv.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(cfg.value("add_eos_token", false)));
    if (!byte_level) kv.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue::boolean(true));
  } catch (const nlohmann::json::exception& e) {
    fail("{}/tokenizer.json: {}", source, e.what());
  }
}

}  // namespace kllens::gguf
