// Lenient JSON for Hugging Face config files.
//
// Python's json module writes non-finite floats as the bare tokens Infinity, -Infinity
// and NaN, which strict JSON (and nlohmann's parser) rejects; Mamba-2 configs contain
// `"time_step_limit": [0.0, Infinity]`. transformers v5 spells the same value
// `{"__float__": "Infinity"}`. parse_json_lenient() accepts both spellings and turns them
// into plain double values; json_number() reads a number in either spelling.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kllens {

// Throws kllens::Error "PATH: malformed JSON: <parser message>".
nlohmann::json parse_json_lenient(std::string_view text, const std::string& path_for_errors);

// A parser message without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string json_parse_message(const nlohmann::json::parse_error& e);

// A JSON number, or {"__float__": "Infinity" | "-Infinity" | "NaN"}, as a double.
// Throws kllens::Error "expected a number, got <json>" (callers add path and key).
double json_number(const nlohmann::json& j);

// The `{"__float__": ...}` spelling of a double for values JSON cannot hold (inf, NaN);
// finite values stay plain numbers.
nlohmann::json json_float(double v);

}  // namespace kllens
