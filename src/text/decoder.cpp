// Decoding (see decoder.h): the decoder json becomes per-token pieces, and one
// StreamDecoder implements the joining rules of `tokenizers` for both decode() and
// streaming, so the two cannot disagree:
//   - ordinary bytes form one stream that is read as UTF-8, each ill-formed subpart
//     becoming U+FFFD (from_utf8_lossy, as the ByteLevel decoder does);
//   - a run of consecutive byte-fallback tokens is text if the run as a whole is valid
//     UTF-8, else one U+FFFD per byte (the ByteFallback decoder);
//   - Strip removes up to `count` leading copies of a character from the joined text.
#include "text/decoder.h"

#include "core/json.h"
#include "kllens/error.h"
#include "text/byte_level.h"
#include "text/unicode.h"

namespace kllens::text {

namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

DecoderRules parse_decoder(const nlohmann::json& decoder, const std::string& path) {
  if (decoder.is_null())
    fail("{}: no decoder (joining tokens with spaces is not supported)", path);
  const std::string type = decoder.value("type", "");
  DecoderRules rules;
  if (type == "ByteLevel") {
    rules.byte_level = true;
    return rules;
  }
  if (type != "Sequence") fail("{}: decoder '{}' is not supported", path, type);

  // The steps must come in this order; other orders would need per-token strips or
  // replacements inside decoded bytes, which kllens does not implement.
  enum Stage { kReplace, kByteFallback, kFuse, kStrip } stage = kReplace;
  auto advance = [&](Stage to, const std::string& step) {
    if (to < stage)
      fail("{}: decoder step '{}' after a later step is not supported (order: Replace, "
           "ByteFallback, Fuse, Strip)", path, step);
    stage = to;
  };
  for (const auto& step : decoder.at("decoders")) {
    const std::string step_type = step.value("type", "");
    if (step_type == "Replace") {
      advance(kReplace, step_type);
      const auto& pattern = step.at("pattern");
      if (!pattern.contains("String") || pattern["String"].get<std::string>().empty())
        fail("{}: Replace decoder with pattern {} is not supported (only a literal String)",
             path, json_excerpt(pattern));
      rules.replacements.emplace_back(pattern["String"].get<std::string>(),
                                      step.at("content").get<std::string>());
    } else if (step_type == "ByteFallback") {
      advance(kByteFallback, step_type);
      rules.byte_fallback = true;
    } else if (step_type == "Fuse") {
      advance(kFuse, step_type);
    } else if (step_type == "Strip") {
      if (stage != kFuse)
        fail("{}: a Strip decoder must follow Fuse (a per-token strip is not supported)", path);
      advance(kStrip, step_type);
      rules.strip.content = step.at("content").get<std::string>();
      // A Strip removes at most a few characters; a float or a huge count is not a Strip.
      const auto start = json_int(step.at("start"), 0, 1 << 20);
      if (!start)
        fail("{}: a Strip decoder's start must be an integer in [0, 2^20], got {}", path,
             json_excerpt(step.at("start")));
      rules.strip.count = int32_t(*start);
      if (!json_int(step.at("stop"), 0, 0))  // the integer 0, nothing else
        fail("{}: a Strip decoder with stop != 0 is not supported (got {})", path,
             json_excerpt(step.at("stop")));
      if (rules.strip.content.empty() ||
          utf8_char_length(static_cast<unsigned char>(rules.strip.content[0])) !=
              rules.strip.content.size())
        fail("{}: a Strip decoder's content must be one character", path);
    } else {
      fail("{}: decoder '{}' inside a Sequence is not supported", path, step_type);
    }
  }
  return rules;
}

Tokenizer::Piece decode_token(const DecoderRules& rules, const std::string& token) {
  if (rules.byte_level) {
    auto bytes = byte_level_bytes(token);
    return {bytes ? std::move(*bytes) : token, false};
  }
  std::string text = token;
  for (const auto& [pattern, content] : rules.replacements) {
    std::string replaced;
    size_t from = 0;
    for (size_t at; (at = text.find(pattern, from)) != std::string::npos;
         from = at + pattern.size())
      replaced.append(text, from, at - from).append(content);
    text = replaced.append(text, from);
  }
  if (rules.byte_fallback && text.size() == 6 && text.starts_with("<0x") && text[5] == '>') {
    const int hi = hex_digit(text[3]), lo = hex_digit(text[4]);
    if (hi >= 0 && lo >= 0) return {std::string(1, static_cast<char>(hi * 16 + lo)), true};
  }
  return {std::move(text), false};
}

}  // namespace kllens::text

// ---- StreamDecoder --------------------------------------------------------------------

namespace kllens {

Tokenizer::StreamDecoder::StreamDecoder(const Tokenizer& tokenizer)
    : tokenizer_(&tokenizer), strip_left_(tokenizer.leading_strip().count) {}

std::string Tokenizer::StreamDecoder::push(int32_t id) {
  const Piece& piece = tokenizer_->piece(id);
  std::string out;
  if (piece.fallback_byte) {
    // Ordinary bytes cannot finish their character inside a byte-fallback run.
    text::append_utf8_lossy(held_bytes_, out);
    held_bytes_.clear();
    fallback_run_ += piece.bytes;
    return emit(std::move(out));
  }
  release_fallback_run(out);
  held_bytes_ += piece.bytes;
  const size_t complete = held_bytes_.size() - text::unfinished_utf8_tail(held_bytes_);
  text::append_utf8_lossy(std::string_view(held_bytes_).substr(0, complete), out);
  held_bytes_.erase(0, complete);
  return emit(std::move(out));
}

std::string Tokenizer::StreamDecoder::flush() {
  std::string out;
  release_fallback_run(out);
  text::append_utf8_lossy(held_bytes_, out);
  held_bytes_.clear();
  return emit(std::move(out));
}

void Tokenizer::StreamDecoder::release_fallback_run(std::string& out) {
  if (fallback_run_.empty()) return;
  if (text::first_invalid_utf8(fallback_run_) == std::string_view::npos) {
    out += fallback_run_;
  } else {
    for (size_t i = 0; i < fallback_run_.size(); ++i) out += text::kReplacementChar;
  }
  fallback_run_.clear();
}

std::string Tokenizer::StreamDecoder::emit(std::string text) {
  const std::string& strip = tokenizer_->leading_strip().content;
  size_t cut = 0;
  while (strip_left_ > 0 && cut < text.size()) {
    if (text.compare(cut, strip.size(), strip) != 0) {
      strip_left_ = 0;  // the text has started with something else: nothing more to strip
      break;
    }
    cut += strip.size();
    --strip_left_;
  }
  return text.erase(0, cut);
}

}  // namespace kllens
