// kllens models as GGUF files and back.
//
// Export (`kllens quantize --format gguf`): Mamba-1 and Mamba-2 are written with
// llama.cpp's own architecture ("mamba", "mamba2"), metadata keys, tensor names and
// conventions (convert_hf_to_gguf.py's MambaModel / Mamba2Model): A stored as −exp(A_log),
// conv1d weights squeezed to [C, K], Mamba-2's A and D as [nh, 1] and its gated norm as
// [G, I/G], dt_bias as ssm_dt.bias, a tied head omitted. Hymba has no llama.cpp
// architecture: it is written as "kllens-hymba" with the Hugging Face tensor names and its
// config.json in the metadata, so only kllens reads it back. The tokenizer goes in twice:
// as llama.cpp's tokenizer.ggml.* keys ("gpt2" for byte-level BPE, "llama" for
// SentencePiece-style BPE with byte fallback) and verbatim as kllens.tokenizer.json.
//
// Linear layers take the type the plan gives them: a group-32 (or 64/128) plan entry is
// written byte for byte as Q8_0 / Q4_0; a per-channel entry (Q8_C / Q4_C, which GGUF has no
// type for) is re-quantised in 32-blocks from the float weights; a layer whose rows are not
// whole 32-blocks (mamba-130m's dt_proj, K = 48) cannot be Q8_0/Q4_0 in ggml and is written
// in the float type. Both cases are reported with their size cost. Everything else: the
// embedding and unplanned linear weights in the float type (F16 or F32), small tensors
// (norms, biases, A, D, conv) in F32, as llama.cpp's ssm ops require.
//
// Import: every kllens MODEL argument accepts a .gguf file; read_gguf_model() maps it back
// to a ModelConfig and Hugging Face tensor names without copying tensor data.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kllens/config.h"
#include "kllens/quant.h"
#include "kllens/safetensors.h"
#include "kllens/tokenizer.h"

namespace kllens {

class GgufFile;

struct GgufExportOptions {
  DType float_type = DType::F16;                // F16 or F32: embedding, unplanned layers
  std::map<std::string, QuantSpec> layers;      // linear layer name (no ".weight") → spec
};

// A layer the file holds in a different type than the plan asked for, and why.
struct GgufLayerChange {
  std::string layer;
  std::string planned;   // "q4", "q8_g32", ...
  DType written;         // Q8_0 / Q4_0 (re-blocked) or F16 / F32 (fallback)
  double planned_bytes;  // nominal bytes of the plan's format (quant.h weight_bytes)
  double written_bytes;  // bytes in the file
  std::string why;
};

struct GgufExportResult {
  std::string architecture;      // general.architecture
  bool llama_cpp_arch = false;   // false: a kllens architecture that llama.cpp does not load
  uint64_t file_bytes = 0;
  int64_t linear_params = 0;     // weights of the linear layers (plan namespace)
  double linear_bytes = 0;       // their bytes in the file
  double bits_per_weight() const { return linear_params ? 8.0 * linear_bytes / double(linear_params) : 0; }
  std::map<std::string, DType> linear_types;  // every linear layer → type in the file
  std::vector<GgufLayerChange> changes;
  // What `kllens quantize --format gguf` prints: the file, its bytes and bits per weight,
  // whether llama.cpp knows the architecture, and every change with its size cost.
  std::string report(const std::string& path) const;
};

// Writes MODEL (a Hugging Face folder or a .gguf file) as GGUF v3 to `out`, atomically.
// Throws one-line kllens::Error for a plan layer the model lacks, an unsupported source,
// or a config llama.cpp cannot express (e.g. a Mamba-2 Δ clamp).
GgufExportResult export_gguf(const std::string& model, const GgufExportOptions& options,
                             const std::string& out);

// Config and Hugging Face-named tensors of a GGUF file, validated (shapes against the
// config happen in the model loaders). The store's tensors point into the file mapping.
struct GgufModel {
  ModelConfig config;
  TensorStore store;
};
GgufModel read_gguf_model(const std::string& path);
// The same for a file already open (read_gguf_model opens and calls it; so does the fuzz
// target, over GgufFile::from_bytes). The store keeps `file` alive.
GgufModel gguf_model(const std::shared_ptr<const GgufFile>& file);

// The tokenizer kllens wrote into the file (kllens.tokenizer.json).
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);
std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& file);

// A model given as MODEL on the command line: a Hugging Face folder or a .gguf file.
struct ModelFiles {
  ModelConfig config;
  TensorStore store;
};
ModelFiles open_model_files(const std::string& model);

}  // namespace kllens
