// The bounded JSON entry point and lenient non-finite floats, see json.h.
//
// Lenient approach: a pre-scan rewrites the bare tokens found outside strings into the
// {"__float__": "..."} spelling (valid JSON, and one we must accept anyway), the strict
// nlohmann parser does the rest, and a final walk replaces every such object by a double.
#include "json.h"

#include <cmath>
#include <limits>
#include <optional>
#include <unordered_set>
#include <vector>

#include "kllens/error.h"
#include "kllens/io.h"

namespace kllens {

namespace {

constexpr std::string_view kFloatKey = "__float__";

std::optional<double> special_float(std::string_view s) {
  if (s == "Infinity" || s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity" || s == "-inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN" || s == "nan") return std::numeric_limits<double>::quiet_NaN();
  return std::nullopt;
}

// The value of a {"__float__": "..."} object, if `j` is one.
std::optional<double> float_object(const nlohmann::json& j) {
  if (!j.is_object() || j.size() != 1) return std::nullopt;
  auto it = j.find(std::string(kFloatKey));
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return special_float(it->get_ref<const std::string&>());
}

// Copies `text`, replacing bare non-finite tokens outside strings. Inside a string only
// the quote and backslash-escape state matter.
std::string rewrite_bare_tokens(std::string_view text) {
  static constexpr std::string_view kTokens[] = {"-Infinity", "Infinity", "NaN"};
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (std::string_view tok : kTokens) {
      if (text.substr(i, tok.size()) == tok) {
        out += "{\"__float__\":\"";
        out += tok;
        out += "\"}";
        i += tok.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

// Depth is bounded by the parse (kJsonMaxDepth), so the recursion is too.
void replace_float_objects(nlohmann::json& j) {
  if (auto v = float_object(j)) {
    j = *v;
    return;
  }
  if (j.is_structured())
    for (auto& child : j) replace_float_objects(child);
}

template <class Json>
Json parse_bounded(std::string_view text, const std::string& path) {
  if (text.size() > kJsonMaxBytes)
    fail("{}: {} bytes of JSON, more than the {}-byte limit", path, text.size(), kJsonMaxBytes);
  // One key set per open object: a repeated key is refused (the format says names should be
  // unique, and nlohmann would silently keep the last).
  std::vector<std::unordered_set<std::string>> keys;
  auto check = [&](int depth, nlohmann::detail::parse_event_t event, Json& parsed) {
    using E = nlohmann::detail::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        if (depth >= kJsonMaxDepth)
          fail("{}: JSON nested deeper than {} levels", path, kJsonMaxDepth);
        if (event == E::object_start) keys.emplace_back();
        break;
      case E::object_end:
        keys.pop_back();
        break;
      case E::key: {
        const auto& key = parsed.template get_ref<const std::string&>();
        if (!keys.back().insert(key).second)
          fail("{}: key {} appears twice in one object", path, excerpt('"' + key + '"'));
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text, check);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed JSON: {}", path, json_parse_message(e));
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& path_for_errors) {
  return parse_bounded<nlohmann::json>(text, path_for_errors);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& path_for_errors) {
  return parse_bounded<nlohmann::ordered_json>(text, path_for_errors);
}

nlohmann::json parse_json_lenient(std::string_view text, const std::string& path_for_errors) {
  if (text.size() > kJsonMaxBytes)
    fail("{}: {} bytes of JSON, more than the {}-byte limit", path_for_errors, text.size(),
         kJsonMaxBytes);
  nlohmann::json j = parse_json(rewrite_bare_tokens(text), path_for_errors);
  replace_float_objects(j);
  return j;
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json(read_file(path, kJsonMaxBytes), path);
}

nlohmann::ordered_json read_ordered_json_file(const std::string& path) {
  return parse_ordered_json(read_file(path, kJsonMaxBytes), path);
}

nlohmann::json read_json_file_lenient(const std::string& path) {
  return parse_json_lenient(read_file(path, kJsonMaxBytes), path);
}

namespace {

// At most `n` bytes of `s`, cut on a UTF-8 character boundary so a message stays valid text.
std::string cut(std::string_view s, size_t n) {
  if (s.size() <= n) return std::string(s);
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

}  // namespace

std::string excerpt(std::string_view s) { return cut(s, kJsonExcerptChars); }

std::string json_parse_message(const nlohmann::json::exception& e) {
  const std::string_view what = e.what();
  const size_t end =
      what.starts_with("[json.exception.") ? what.find("] ") : std::string_view::npos;
  const std::string_view msg = end == std::string_view::npos ? what : what.substr(end + 2);
  // The message quotes the offending token ("last read: '...'"), which may be huge.
  return cut(msg, 2 * kJsonExcerptChars);
}

double json_number(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (auto v = float_object(j)) return *v;
  fail("expected a number, got {}", json_excerpt(j));
}

nlohmann::json json_float(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return {{std::string(kFloatKey), "NaN"}};
  return {{std::string(kFloatKey), v > 0 ? "Infinity" : "-Infinity"}};
}

}  // namespace kllens
