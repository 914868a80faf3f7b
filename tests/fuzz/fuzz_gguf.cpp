// libFuzzer target: a GGUF file (header, metadata keys and values, tensor table,
// alignment, data bounds), then what kllens builds from it: the model config and the
// Hugging Face-named tensor store (gguf_model), and the tokenizer when the file has one.
#include "fuzz_input.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const kllens::GgufFile> file;
  kllens::fuzz::run([&] {
    file = kllens::GgufFile::from_bytes("fuzz.gguf", data, size);
    volatile uint64_t sum = 0;  // touch every tensor's bytes: they must lie inside the input
    for (const auto& t : file->tensors())
      if (t.bytes > 0) sum = sum + t.data[0] + t.data[t.bytes - 1];
  });
  if (!file) return 0;
  kllens::fuzz::run([&] {
    const kllens::GgufModel m = kllens::gguf_model(file);
    (void)m.config.to_json().dump();
    for (const auto& name : m.store.names()) (void)m.store.get(name);
  });
  return kllens::fuzz::run([&] {
    if (!file->find_kv("kllens.tokenizer.json")) return;
    const auto tok = kllens::gguf_tokenizer(*file);
    (void)tok->decode(tok->encode("Hello, world!"));
  });
}
