// The normalizer of a tokenizer.json (see normalizer.h), with the semantics of
// `tokenizers`' normalizers: Prepend does nothing to an empty string, Replace replaces
// every non-overlapping occurrence from left to right.
#include "text/normalizer.h"

#include "core/json.h"
#include "kllens/error.h"
#include "text/unicode.h"

namespace kllens::text {

Normalizer::Normalizer(const nlohmann::json& normalizer, const std::string& path) {
  if (!normalizer.is_null()) add_steps(normalizer, path);
}

void Normalizer::add_steps(const nlohmann::json& normalizer, const std::string& path) {
  const std::string type = normalizer.value("type", "");
  if (type == "Sequence") {
    for (const auto& inner : normalizer.at("normalizers")) add_steps(inner, path);
  } else if (type == "NFC") {
    steps_.push_back({Step::Kind::kNfc, "", ""});
  } else if (type == "Prepend") {
    steps_.push_back({Step::Kind::kPrepend, "", normalizer.at("prepend").get<std::string>()});
  } else if (type == "Replace") {
    const auto& pattern = normalizer.at("pattern");
    if (!pattern.contains("String") || pattern["String"].get<std::string>().empty())
      fail("{}: Replace normalizer with pattern {} is not supported (only a literal String)",
           path, json_excerpt(pattern));
    steps_.push_back({Step::Kind::kReplace, pattern["String"].get<std::string>(),
                      normalizer.at("content").get<std::string>()});
  } else {
    fail("{}: normalizer '{}' is not supported", path, type);
  }
}

std::string Normalizer::apply(std::string_view text) const {
  std::string current(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::kNfc:
        current = nfc(current);
        break;
      case Step::Kind::kPrepend:
        if (!current.empty()) current.insert(0, step.content);
        break;
      case Step::Kind::kReplace: {
        std::string replaced;
        replaced.reserve(current.size());
        size_t from = 0;
        for (size_t at; (at = current.find(step.pattern, from)) != std::string::npos;
             from = at + step.pattern.size()) {
          replaced.append(current, from, at - from);
          replaced.append(step.content);
        }
        replaced.append(current, from);
        current = std::move(replaced);
        break;
      }
    }
  }
  return current;
}

}  // namespace kllens::text
