// Lenient JSON: bare Infinity / -Infinity / NaN and {"__float__": ...}, see json.h.
//
// Approach: a pre-scan rewrites the bare tokens found outside strings into the
// {"__float__": "..."} spelling (valid JSON, and one we must accept anyway), the strict
// nlohmann parser does the rest, and a final walk replaces every such object by a double.
#include "json.h"

#include <cmath>
#include <limits>
#include <optional>

#include "kllens/error.h"

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

void replace_float_objects(nlohmann::json& j) {
  if (auto v = float_object(j)) {
    j = *v;
    return;
  }
  if (j.is_structured())
    for (auto& child : j) replace_float_objects(child);
}

}  // namespace

nlohmann::json parse_json_lenient(std::string_view text, const std::string& path_for_errors) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(rewrite_bare_tokens(text));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON: {}", path_for_errors, json_parse_message(e));
  }
  replace_float_objects(j);
  return j;
}

std::string json_parse_message(const nlohmann::json::parse_error& e) {
  const std::string_view what = e.what();
  const size_t end =
      what.starts_with("[json.exception.") ? what.find("] ") : std::string_view::npos;
  return std::string(end == std::string_view::npos ? what : what.substr(end + 2));
}

double json_number(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (auto v = float_object(j)) return *v;
  fail("expected a number, got {}", j.dump());
}

nlohmann::json json_float(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return {{std::string(kFloatKey), "NaN"}};
  return {{std::string(kFloatKey), v > 0 ? "Infinity" : "-Infinity"}};
}

}  // namespace kllens
