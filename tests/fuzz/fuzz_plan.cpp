// libFuzzer target: a plan file (kllens allocate) and a sensitivity report, the two JSON
// files the lens commands read back.
#include "core/json.h"
#include "kllens/lens.h"

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = kllens::fuzz::as_text(data, size);
  kllens::fuzz::run([&] {
    const auto p = kllens::Plan::from_json(kllens::parse_ordered_json(text, "plan.json"));
    (void)p.to_json().dump();
    (void)p.bits_per_weight();
  });
  return kllens::fuzz::run([&] {
    const auto r =
        kllens::SensitivityReport::from_json(kllens::parse_ordered_json(text, "sensitivity.json"));
    (void)r.to_json().dump();
    (void)r.to_csv();
  });
}
