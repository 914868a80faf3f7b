// libFuzzer target: a GGUF file (header, metadata keys and values, tensor table,
// alignment, data bounds), then what kllens builds from it: the model config and the
// Hugging Face-named tensor store (gguf_model), the model itself as Model::load builds it
// (Model::from_files: every tensor's shape against the config, the weights bound to or
// converted for a CPU backend, the layer stack) with one forward step over two tokens, and
// the tokenizer when the file has one. The seeds that load in full are micro models
// (tests/fuzz/make_micro_model.py); the others stop at the loader's shape checks.
#include "fuzz_input.h"
#include "kllens/backend.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"
#include "kllens/model.h"

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
    // The scalar tier: the truth, and no AVX2 kernels' alignment demands on the input.
    static const auto cpu = kllens::make_cpu_backend(kllens::CpuTier::reference);
    const auto model = kllens::Model::from_files("fuzz.gguf", m.config, m.store, *cpu);
    const int32_t last = int32_t(model->config().vocab_size - 1);
    (void)kllens::compute_logits(*model, {0, last}, 1, 2);
  });
  return kllens::fuzz::run([&] {
    if (!file->find_kv("kllens.tokenizer.json")) return;
    const auto tok = kllens::gguf_tokenizer(*file);
    (void)tok->decode(tok->encode("Hello, world!"));
  });
}
