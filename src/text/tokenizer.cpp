// Tokenizer::load and the one concrete tokenizer: a BPE model with the normalizer,
// pre-tokenizer, added tokens and decoder that tokenizer.json describes. Encoding follows
// `tokenizers`' pipeline: cut out raw added tokens, normalise each remaining piece, cut out
// normalised added tokens, pre-tokenize, and run BPE on every word.
#include "kllens/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/byte_level.h"
#include "text/decoder.h"
#include "text/normalizer.h"
#include "text/unicode.h"

namespace kllens {

namespace {

std::unique_ptr<text::ByteLevelPreTokenizer> parse_pre_tokenizer(const nlohmann::json& pre,
                                                                 const std::string& path) {
  if (pre.is_null()) return nullptr;
  const std::string type = pre.value("type", "");
  if (type != "ByteLevel") fail("{}: pre-tokenizer '{}' is not supported", path, type);
  // `tokenizers`' defaults for fields the json leaves out.
  return std::make_unique<text::ByteLevelPreTokenizer>(pre.value("add_prefix_space", true),
                                                      pre.value("use_regex", true));
}

class BpeTokenizer final : public Tokenizer {
 public:
  // config: tokenizer_config.json (null if there is none), config_name its name in errors.
  BpeTokenizer(const nlohmann::json& json, const std::string& path, const nlohmann::json& config,
               const std::string& config_name)
      : path_(path),
        normalizer_(json.value("normalizer", nlohmann::json()), path),
        pre_tokenizer_(parse_pre_tokenizer(json.value("pre_tokenizer", nlohmann::json()), path)),
        model_(json.value("model", nlohmann::json()), path),
        added_(json.value("added_tokens", nlohmann::json()), normalizer_, path) {
    build_token_table(text::parse_decoder(json.value("decoder", nlohmann::json()), path));
    eos_id_ = find_eos(config, config_name);
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    if (const size_t bad = text::first_invalid_utf8(text); bad != std::string_view::npos)
      fail("cannot encode text that is not valid UTF-8 (byte {})", bad);
    std::vector<int32_t> ids;
    WordCache cache;
    for (const auto& raw : added_.split(text, /*normalized=*/false)) {
      if (raw.id >= 0) {
        ids.push_back(raw.id);
        continue;
      }
      const std::string normalized = normalizer_.apply(raw.text);
      for (const auto& piece : added_.split(normalized, /*normalized=*/true)) {
        if (piece.id >= 0) {
          ids.push_back(piece.id);
        } else {
          encode_piece(piece.text, cache, ids);
        }
      }
    }
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    StreamDecoder decoder(*this);
    std::string text;
    for (int32_t id : ids) text += decoder.push(id);
    return text + decoder.flush();
  }

  StreamDecoder stream_decoder() const override { return StreamDecoder(*this); }
  int32_t vocab_size() const override { return int32_t(tokens_.size()); }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::string token_text(int32_t id) const override { return tokens_[checked(id)]; }
  const Piece& piece(int32_t id) const override { return pieces_[checked(id)]; }
  const LeadingStrip& leading_strip() const override { return strip_; }

 private:
  // Ids of each distinct byte-level word seen in one encode() call: natural text repeats
  // its words, so most words skip BPE.
  using WordCache = std::unordered_map<std::string, std::vector<int32_t>, text::StringHash,
                                       std::equal_to<>>;

  void encode_piece(std::string_view piece, WordCache& cache, std::vector<int32_t>& ids) const {
    if (!pre_tokenizer_) {
      model_.encode_word(piece, ids);
      return;
    }
    std::string prefixed;
    if (pre_tokenizer_->add_prefix_space() && !piece.starts_with(' ')) {
      prefixed.reserve(piece.size() + 1);
      prefixed.append(1, ' ').append(piece);
      piece = prefixed;
    }
    const auto& chars = text::byte_level_chars();
    for (std::string_view word : pre_tokenizer_->split(piece)) {
      auto it = cache.find(word);
      if (it == cache.end()) {
        std::string byte_chars;
        for (char c : word) byte_chars += chars[static_cast<unsigned char>(c)];
        std::vector<int32_t> word_ids;
        model_.encode_word(byte_chars, word_ids);
        it = cache.emplace(std::string(word), std::move(word_ids)).first;
      }
      ids.insert(ids.end(), it->second.begin(), it->second.end());
    }
  }

  // Token strings and decoder pieces by id; added tokens take precedence over the model
  // vocabulary, as in `tokenizers`.
  // The table has one entry per id up to the largest; ids are dense in every real
  // vocabulary, so a largest id far beyond the number of tokens is refused before the
  // table is allocated (an id of 10^9 would ask for tens of GB).
  void build_token_table(const text::DecoderRules& rules) {
    int64_t size = 0;  // ids are < INT32_MAX (bpe.cpp, added_tokens.cpp): no overflow
    for (const auto& [token, id] : model_.vocab()) size = std::max<int64_t>(size, int64_t(id) + 1);
    for (const auto& token : added_.tokens()) size = std::max<int64_t>(size, int64_t(token.id) + 1);
    const int64_t listed = int64_t(model_.vocab().size() + added_.tokens().size());
    if (size > 2 * listed + 1024)
      fail("{}: largest token id {} is far beyond the {} tokens listed; ids of a vocabulary "
           "must be (nearly) dense", path_, size - 1, listed);
    tokens_.assign(size_t(size), "");
    known_.assign(size_t(size), false);
    auto set = [&](int32_t id, const std::string& token) {
      tokens_[size_t(id)] = token;
      known_[size_t(id)] = true;
    };
    for (const auto& [token, id] : model_.vocab()) set(id, token);
    for (const auto& token : added_.tokens()) set(token.id, token.content);
    pieces_.reserve(tokens_.size());
    for (const std::string& token : tokens_) pieces_.push_back(text::decode_token(rules, token));
    strip_ = rules.strip;
  }

  std::optional<int32_t> token_id(std::string_view token) const {
    for (const auto& added : added_.tokens())
      if (added.content == token) return added.id;
    if (const auto it = model_.vocab().find(token); it != model_.vocab().end()) return it->second;
    return std::nullopt;
  }

  std::optional<int32_t> find_eos(const nlohmann::json& config, const std::string& config_name) const {
    if (config.is_object()) {
      const auto eos = config.value("eos_token", nlohmann::json());
      // eos_token is a string, or an AddedToken object with a "content" in older files.
      const auto content = eos.is_object() ? eos.value("content", nlohmann::json()) : eos;
      if (content.is_string()) {
        if (const auto id = token_id(content.get<std::string>())) return id;
        fail("{}: eos_token '{}' is not a token of {}", config_name,
             content.get<std::string>(), path_);
      }
    }
    for (const char* name : {"</s>", "<|endoftext|>"})
      if (const auto id = token_id(name)) return id;
    return std::nullopt;
  }

  size_t checked(int32_t id) const {
    if (id < 0 || id >= vocab_size() || !known_[size_t(id)])
      fail("token id {} is not in the vocabulary of {}", id, path_);
    return size_t(id);
  }

  std::string path_;
  text::Normalizer normalizer_;
  std::unique_ptr<text::ByteLevelPreTokenizer> pre_tokenizer_;  // null: no pre-tokenizer
  text::BpeModel model_;
  text::AddedTokens added_;
  std::vector<std::string> tokens_;  // by id
  std::vector<bool> known_;          // by id: whether some token has this id
  std::vector<Piece> pieces_;        // by id
  LeadingStrip strip_;
  std::optional<int32_t> eos_id_;
};

}  // namespace

namespace {

// The one way a tokenizer is made, from the files' text (the disk and the GGUF path both
// come here, and so does the fuzz target). config_text: tokenizer_config.json, or null if
// there is none; each name is its text's name in errors.
std::unique_ptr<Tokenizer> tokenizer_from_text(std::string_view json_text, const std::string& name,
                                               const std::string* config_text,
                                               const std::string& config_name) {
  // The bounded parser of every file kllens reads (src/core/json.h).
  const nlohmann::json json = parse_json(json_text, name);
  if (!json.is_object()) fail("{}: expected a JSON object", name);
  const nlohmann::json config = config_text ? parse_json(*config_text, config_name) : nlohmann::json();
  try {
    return std::make_unique<BpeTokenizer>(json, name, config, config_name);
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong type or missing where the format requires it.
    fail("{}: {}", name, json_parse_message(e));
  }
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& tokenizer_json_path) {
  const std::string json_text = read_file(tokenizer_json_path, kJsonMaxBytes);
  const auto config_path = std::filesystem::path(tokenizer_json_path).parent_path() / "tokenizer_config.json";
  const bool has_config = std::filesystem::exists(config_path);
  const std::string config_text = has_config ? read_file(config_path.string(), kJsonMaxBytes) : "";
  return tokenizer_from_text(json_text, tokenizer_json_path, has_config ? &config_text : nullptr,
                             config_path.string());
}

std::unique_ptr<Tokenizer> Tokenizer::from_json_text(const std::string& tokenizer_json,
                                                     const std::string& tokenizer_config,
                                                     const std::string& source) {
  return tokenizer_from_text(tokenizer_json, source + ": tokenizer.json",
                             tokenizer_config.empty() ? nullptr : &tokenizer_config,
                             source + ": tokenizer_config.json");
}

}  // namespace kllens
