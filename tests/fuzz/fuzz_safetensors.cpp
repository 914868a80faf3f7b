// libFuzzer target: a safetensors file (8-byte header length, JSON header, data).
#include "fuzz_input.h"
#include "kllens/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return kllens::fuzz::run([&] {
    auto f = kllens::SafetensorsFile::open(kllens::fuzz::as_file(data, size));
    volatile uint64_t sum = 0;  // touch every tensor's bytes: they must lie inside the map
    for (const auto& [name, t] : f->tensors())
      for (size_t i = 0; i < t.bytes; i += 4096) sum = sum + t.data[i];
  });
}
