// The added tokens of a tokenizer.json (<|endoftext|>, <s>, …). As in `tokenizers`, they
// are cut out of the text before the model sees it: tokens with normalized=false are
// found in the raw text, those with normalized=true in the normalised text, the
// leftmost match first and the longest among matches at the same place.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kllens::text {

class Normalizer;

class AddedTokens {
 public:
  struct Token {
    std::string content;
    int32_t id;
    bool normalized;  // matched in normalised text (then `pattern` is the normalised content)
    std::string pattern;
  };
  // A stretch of text: either an added token (id >= 0) or text for the model (id = -1).
  struct Segment {
    std::string_view text;
    int32_t id;
  };

  // `path` names the file in error messages.
  AddedTokens(const nlohmann::json& added_tokens, const Normalizer& normalizer,
              const std::string& path);

  // Splits `text` on the tokens whose `normalized` flag equals `normalized`.
  std::vector<Segment> split(std::string_view text, bool normalized) const;
  const std::vector<Token>& tokens() const { return tokens_; }

 private:
  std::vector<Token> tokens_;  // longest pattern first, so the first match is the longest
  std::array<bool, 256> starts_pattern_[2]{};  // [normalized][first byte of a pattern]
};

}  // namespace kllens::text
