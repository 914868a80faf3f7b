// libFuzzer target: the sweep's saved state as --resume reads it: probes/sweep.json (the
// fingerprint) and a probe file (with its checksum).
#include "fuzz_input.h"
#include "kllens/lens.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = kllens::fuzz::as_text(data, size);
  kllens::fuzz::run([&] { (void)kllens::parse_sweep_fingerprint(text, "sweep.json"); });
  return kllens::fuzz::run([&] {
    const kllens::Probe p = kllens::parse_probe_file(text, "probe.json");
    (void)p.key();
  });
}
