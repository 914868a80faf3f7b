// libFuzzer target: a safetensors file (8-byte header length, JSON header, data).
#include "fuzz_input.h"
#include "kllens/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return kllens::fuzz::run([&] {
    auto f = kllens::SafetensorsFile::from_bytes("fuzz.safetensors", data, size);
    volatile uint64_t sum = 0;  // touch every tensor's bytes: they must lie inside the input
    for (const auto& [name, t] : f->tensors())
      if (t.bytes > 0) sum = sum + t.data[0] + t.data[t.bytes - 1];
  });
}
