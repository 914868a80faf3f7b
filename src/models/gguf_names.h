// Hugging Face ↔ llama.cpp tensor names and shapes for Mamba-1 and Mamba-2 (llama.cpp's
// llama-arch tensor names; gguf-py's MODEL_TENSOR table), shared by export and import.
#pragma once

#include <optional>
#include <string>

#include <utility>
#include <vector>

#include "kllens/config.h"
#include "kllens/gguf.h"
#include "kllens/tensor.h"

namespace kllens::gguf {

// The llama.cpp architecture of a kllens architecture: "mamba", "mamba2", or
// "kllens-hymba" (no llama.cpp architecture; HF names kept).
std::string architecture(Arch arch);
bool is_llama_cpp_arch(Arch arch);
// The key prefix of the architecture's metadata ("mamba.", "mamba2.").
inline std::string key(Arch arch, const std::string& k) { return architecture(arch) + "." + k; }

// How a tensor's values change on the way into the file.
enum class Transform { None, NegExp };  // NegExp: A = −exp(A_log) in fp32, as HF computes A

struct Mapped {
  std::string name;  // name on the other side
  Shape shape;       // shape on the other side (kllens order)
  Transform transform = Transform::None;
};

// HF tensor → GGUF tensor (Mamba-1/2), or nullopt for a tensor llama.cpp has no place for.
std::optional<Mapped> to_gguf(const ModelConfig& c, const std::string& hf, const Shape& shape);
// GGUF tensor → HF tensor as kllens's loaders read it; A keeps its values and is named
// "<mixer>.A" (see SsmStackModel::load_A). nullopt for a name kllens does not know.
std::optional<Mapped> from_gguf(const ModelConfig& c, const std::string& gguf, const Shape& shape);

// llama.cpp's tokenizer.ggml.* keys from a Hugging Face tokenizer.json (and its
// tokenizer_config.json, may be empty), for a model of `vocab` embedding rows: "gpt2" for
// byte-level BPE, "llama" for SentencePiece-style BPE with byte fallback (scores from merge
// ranks). Rows past the tokenizer's tokens become unused "[PAD<id>]" tokens, as
// convert_hf_to_gguf.py pads them. Appends to `kv`; throws for other tokenizer kinds.
void add_tokenizer_keys(const std::string& tokenizer_json, const std::string& tokenizer_config,
                        int64_t vocab, const std::string& source,
                        std::vector<std::pair<std::string, GgufValue>>& kv);

}  // namespace kllens::gguf
