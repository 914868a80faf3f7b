// The one JSON entry point for every file kllens reads (config.json, tokenizer.json,
// model.safetensors.index.json, safetensors headers, plans, sweep state and probe files,
// ids files, sensitivity.json).
//
// Bounded: a text over kJsonMaxBytes, nesting deeper than kJsonMaxDepth, a key repeated in
// one object, and a number outside the range of a double are refused with the file named,
// and every message quotes at most kJsonExcerptChars of the offending text. The depth and
// duplicate checks run inside nlohmann's parser (its callback interface), so a hostile
// file never becomes a deep or ambiguous document in memory.
//
// Lenient (config files): Python's json module writes non-finite floats as the bare tokens
// Infinity, -Infinity and NaN, which strict JSON rejects; Mamba-2 configs contain
// `"time_step_limit": [0.0, Infinity]`. transformers v5 spells the same value
// `{"__float__": "Infinity"}`. The lenient parse accepts both spellings and turns them
// into plain double values; json_number() reads a number in either spelling.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kllens/error.h"

namespace kllens {

// Deeper than any real config or tokenizer (they nest < 10 levels), far below the depth
// at which recursive code over the document would exhaust the stack.
inline constexpr int kJsonMaxDepth = 256;
// The largest tokenizer.json on the Hub is ~35 MB; a larger JSON file is not one of ours.
inline constexpr uint64_t kJsonMaxBytes = 256ull << 20;
inline constexpr size_t kJsonExcerptChars = 80;

// Throw kllens::Error "PATH: malformed JSON: <bounded parser message>" (or the limit hit).
nlohmann::json parse_json(std::string_view text, const std::string& path_for_errors);
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& path_for_errors);
nlohmann::json parse_json_lenient(std::string_view text, const std::string& path_for_errors);

// read_file(path, kJsonMaxBytes) (regular files only), then the parse above.
nlohmann::json read_json_file(const std::string& path);
nlohmann::ordered_json read_ordered_json_file(const std::string& path);
nlohmann::json read_json_file_lenient(const std::string& path);

// A parser message without nlohmann's "[json.exception.parse_error.101] " prefix, cut to a
// bounded length.
std::string json_parse_message(const nlohmann::json::exception& e);

// At most kJsonExcerptChars of `s`, with "..." when cut.
std::string excerpt(std::string_view s);

// A value for a message: its JSON text, cut to kJsonExcerptChars. The document is at most
// kJsonMaxDepth deep, so dump() cannot exhaust the stack.
template <class Json>
std::string json_excerpt(const Json& j) {
  if (j.is_string()) return excerpt('"' + j.template get_ref<const std::string&>() + '"');
  if (j.is_structured() && j.size() > 64) return std::string(j.is_array() ? "[...]" : "{...}");
  return excerpt(j.dump());
}

// A JSON integer in [lo, hi], or nullopt (a float, a string, or out of range; never a
// silent conversion).
template <class Json>
std::optional<int64_t> json_int(const Json& j, int64_t lo, int64_t hi) {
  int64_t v;
  if (j.is_number_unsigned()) {
    const uint64_t u = j.template get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) return std::nullopt;
    v = int64_t(u);
  } else if (j.is_number_integer()) {
    v = j.template get<int64_t>();
  } else {
    return std::nullopt;
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// ---- typed reads for files kllens wrote itself (plans, reports, sweep state) -----------
// Each throws kllens::Error "key 'K' <what is wrong>, got <excerpt>"; callers prefix the
// file. None converts silently (a float is not an integer, an int64 is not an int32).

template <class Json>
const Json& json_at(const Json& j, const std::string& key) {
  if (!j.is_object()) fail("expected an object with key '{}', got {}", key, json_excerpt(j));
  auto it = j.find(key);
  if (it == j.end()) fail("no key '{}'", key);
  return *it;
}

template <class Json>
std::string json_string_at(const Json& j, const std::string& key) {
  const Json& v = json_at(j, key);
  if (!v.is_string()) fail("key '{}' must be a string, got {}", key, json_excerpt(v));
  return v.template get<std::string>();
}

template <class Json>
int64_t json_int_at(const Json& j, const std::string& key, int64_t lo, int64_t hi) {
  const Json& v = json_at(j, key);
  if (auto i = json_int(v, lo, hi)) return *i;
  fail("key '{}' must be an integer in [{}, {}], got {}", key, lo, hi, json_excerpt(v));
}

template <class Json>
bool json_bool_at(const Json& j, const std::string& key) {
  const Json& v = json_at(j, key);
  if (!v.is_boolean()) fail("key '{}' must be true or false, got {}", key, json_excerpt(v));
  return v.template get<bool>();
}

// A number; null (how kllens writes a non-finite value) reads as NaN when `null_is_nan`.
template <class Json>
double json_double_at(const Json& j, const std::string& key, bool null_is_nan = false) {
  const Json& v = json_at(j, key);
  if (null_is_nan && v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!v.is_number()) fail("key '{}' must be a number, got {}", key, json_excerpt(v));
  return v.template get<double>();
}

// A JSON number, or {"__float__": "Infinity" | "-Infinity" | "NaN"}, as a double.
// Throws kllens::Error "expected a number, got <json>" (callers add path and key).
double json_number(const nlohmann::json& j);

// The `{"__float__": ...}` spelling of a double for values JSON cannot hold (inf, NaN);
// finite values stay plain numbers.
nlohmann::json json_float(double v);

}  // namespace kllens
