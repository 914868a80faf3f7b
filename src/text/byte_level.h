// The GPT-2 byte-level scheme: every byte is written as one printable Unicode character
// (bytes_to_unicode), text is first split by the GPT-2 regex, and the decoder maps the
// characters back to bytes.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kllens::text {

// The printable character standing for each byte, UTF-8 encoded.
const std::array<std::string, 256>& byte_level_chars();

// The bytes a byte-level token stands for; nullopt when a character of the token is not
// one of the 256 byte characters (then the ByteLevel decoder keeps the token as it is).
std::optional<std::string> byte_level_bytes(std::string_view token);

// The ByteLevel pre-tokenizer: optional prefix space, then the GPT-2 regex split.
class ByteLevelPreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex);
  ~ByteLevelPreTokenizer();
  ByteLevelPreTokenizer(const ByteLevelPreTokenizer&) = delete;
  ByteLevelPreTokenizer& operator=(const ByteLevelPreTokenizer&) = delete;

  // Pieces of valid UTF-8 text, each still in raw bytes (not yet byte-level characters).
  std::vector<std::string_view> split(std::string_view text) const;
  bool add_prefix_space() const { return add_prefix_space_; }

 private:
  struct Regex;
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;  // owned; null when use_regex is false
};

}  // namespace kllens::text
