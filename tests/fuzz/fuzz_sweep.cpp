// libFuzzer target: the sweep's saved state as --resume reads it: a probe file (with its
// checksum) and probes/sweep.json (the fingerprint).
#include "core/json.h"
#include "kllens/lens.h"

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kllens::fuzz::run([&] {
    const auto j = kllens::parse_json(std::string_view(reinterpret_cast<const char*>(data), size),
                                      "sweep.json");
    (void)kllens::json_string_at(j, "fingerprint");
  });
  return kllens::fuzz::run([&] {
    const kllens::Probe p = kllens::read_probe_file(kllens::fuzz::as_file(data, size));
    (void)p.key();
  });
}
