// libFuzzer target: config.json (lenient JSON, every model family), and the round trip of
// what it accepts.
#include "core/json.h"
#include "kllens/config.h"

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return kllens::fuzz::run([&] {
    const std::string_view text = kllens::fuzz::as_text(data, size);
    const auto c = kllens::ModelConfig::from_json(kllens::parse_json_lenient(text, "config.json"),
                                                  "config.json");
    (void)c.to_json().dump();
  });
}
