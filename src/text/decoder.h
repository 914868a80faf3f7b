// The decoder of a tokenizer.json, reduced to what kllens supports: either ByteLevel, or a
// Sequence of Replace (literal), ByteFallback, Fuse and Strip (leading only) in that order,
// which is the Llama/SentencePiece decoder. Each token becomes a Tokenizer::Piece once at
// load time; Tokenizer::StreamDecoder (decoder.cpp) joins the pieces.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kllens/tokenizer.h"

namespace kllens::text {

struct DecoderRules {
  bool byte_level = false;     // characters stand for bytes (GPT-2 bytes_to_unicode)
  std::vector<std::pair<std::string, std::string>> replacements;  // (pattern, content)
  bool byte_fallback = false;  // <0xXX> tokens are raw bytes
  Tokenizer::LeadingStrip strip;
};

// `path` names the file in error messages.
DecoderRules parse_decoder(const nlohmann::json& decoder, const std::string& path);

Tokenizer::Piece decode_token(const DecoderRules& rules, const std::string& token);

}  // namespace kllens::text
