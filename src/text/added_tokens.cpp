// Added tokens (see added_tokens.h). There are few of them (a handful, or ~50 in GPT-NeoX),
// so a direct scan with a first-byte filter is as fast as an Aho-Corasick automaton here.
#include "text/added_tokens.h"

#include <algorithm>

#include "core/json.h"
#include "kllens/error.h"
#include "text/normalizer.h"

namespace kllens::text {

AddedTokens::AddedTokens(const nlohmann::json& added_tokens, const Normalizer& normalizer,
                         const std::string& path) {
  if (added_tokens.is_null()) return;
  for (const auto& t : added_tokens) {
    const auto& content = t.at("content");
    const auto id = json_int(t.at("id"), 0, INT32_MAX - 1);  // id + 1 must not overflow
    if (!content.is_string() || content.get_ref<const std::string&>().empty() || !id)
      fail("{}: added token {} needs a non-empty content and an id in 0..{}", path,
           json_excerpt(t), INT32_MAX - 1);
    Token token{content.get<std::string>(), int32_t(*id), false, ""};
    for (const char* flag : {"single_word", "lstrip", "rstrip"})
      if (t.value(flag, false))
        fail("{}: added token '{}' sets {}, which is not supported", path, token.content, flag);
    token.normalized = t.value("normalized", !t.value("special", false));
    token.pattern = token.normalized ? normalizer.apply(token.content) : token.content;
    if (token.pattern.empty())
      fail("{}: added token '{}' normalises to nothing", path, token.content);
    starts_pattern_[token.normalized][static_cast<unsigned char>(token.pattern[0])] = true;
    tokens_.push_back(std::move(token));
  }
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const Token& a, const Token& b) {
    return a.pattern.size() > b.pattern.size();
  });
}

std::vector<AddedTokens::Segment> AddedTokens::split(std::string_view text,
                                                     bool normalized) const {
  std::vector<Segment> segments;
  const auto& starts = starts_pattern_[normalized];
  size_t plain_from = 0;  // start of the text not yet put in a segment
  for (size_t pos = 0; pos < text.size();) {
    const Token* found = nullptr;
    if (starts[static_cast<unsigned char>(text[pos])])
      for (const Token& token : tokens_)
        if (token.normalized == normalized && text.substr(pos).starts_with(token.pattern)) {
          found = &token;
          break;
        }
    if (!found) {
      ++pos;
      continue;
    }
    if (pos > plain_from) segments.push_back({text.substr(plain_from, pos - plain_from), -1});
    segments.push_back({text.substr(pos, found->pattern.size()), found->id});
    pos += found->pattern.size();
    plain_from = pos;
  }
  if (plain_from < text.size()) segments.push_back({text.substr(plain_from), -1});
  return segments;
}

}  // namespace kllens::text
