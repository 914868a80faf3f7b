// Shared by the libFuzzer targets. Each target hands the input bytes to the entry point
// the production reader calls once it has the file's bytes (SafetensorsFile::from_bytes,
// GgufFile::from_bytes, Tokenizer::from_json_text, parse_probe_file, ...), so the fuzzed
// code is the production code, without a file per input: a memfd write, open, mmap and
// munmap per input took more time than the parse itself (docs/reliability.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kllens/error.h"

namespace kllens::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Every refusal must be a kllens::Error; anything else (a library exception, a crash, a
// sanitizer report) is a finding.
template <class F>
int run(F&& f) {
  try {
    f();
  } catch (const kllens::Error&) {
  }
  return 0;
}

}  // namespace kllens::fuzz
