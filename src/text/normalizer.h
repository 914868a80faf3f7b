// The normalizer of a tokenizer.json: NFC, Prepend and Replace (with a literal pattern),
// alone or in a Sequence. Other normalizers are refused at load time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kllens::text {

class Normalizer {
 public:
  // `normalizer` may be null (no normalisation); `path` names the file in error messages.
  Normalizer(const nlohmann::json& normalizer, const std::string& path);
  std::string apply(std::string_view text) const;

 private:
  struct Step {
    enum class Kind { kNfc, kPrepend, kReplace } kind;
    std::string pattern;  // kReplace: the literal text replaced
    std::string content;  // kPrepend: the prefix; kReplace: the replacement
  };
  void add_steps(const nlohmann::json& normalizer, const std::string& path);

  std::vector<Step> steps_;
};

}  // namespace kllens::text
