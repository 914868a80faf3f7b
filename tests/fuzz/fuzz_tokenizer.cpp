// libFuzzer target: tokenizer.json, then encode and decode. The input is the JSON, and
// after the first NUL byte (if any) the text to encode.
#include <cstring>
#include <string>

#include "fuzz_input.h"
#include "kllens/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t json_size = nul ? size_t(nul - data) : size;
  const std::string json(reinterpret_cast<const char*>(data), json_size);
  const std::string text = nul ? std::string(reinterpret_cast<const char*>(nul + 1), size - json_size - 1)
                               : std::string("Hello, world! It's 2024.\n  tabs\tand  spaces");
  return kllens::fuzz::run([&] {
    auto tok = kllens::Tokenizer::from_json_text(json, "", "fuzz");
    const auto ids = tok->encode(text);
    (void)tok->decode(ids);
  });
}
