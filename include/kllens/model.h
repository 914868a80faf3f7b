// A loaded language model: weights on a backend, a forward pass over token batches, and
// the recurrent state that decode carries from token to token.
//
// The forward pass of each architecture is written once, against the Backend interface
// (src/models/<arch>.cpp), so it runs unchanged on the CPU and on Vulkan.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kllens/backend.h"
#include "kllens/config.h"

namespace kllens {

class TensorStore;  // kllens/safetensors.h

// Everything a sequence batch carries between forward calls (conv and SSM states; KV
// caches for attention models). `position` counts the tokens consumed so far.
class ModelState {
 public:
  virtual ~ModelState() = default;
  int64_t batch = 0;
  int64_t position = 0;
};

// A linear layer as the lens sees it: its name (the HF weight name without ".weight")
// and the weight the forward pass reads. The output head is `lm_head` in block
// num_layers (a tied embedding reads the same Weight, so quantising it changes both).
inline constexpr const char* kHeadLayer = "lm_head";
struct LinearLayer {
  std::string name;
  Weight* weight;
  int64_t block;  // index of the block that holds it
};

// Receives the residual stream: index 0 after the embedding, index l+1 after block l.
// The tensor is [B*T, H] on the model's backend (for Hymba, B*(M+T) with meta tokens).
using HiddenHook = std::function<void(int64_t index, const Tensor& hidden)>;

class Model {
 public:
  virtual ~Model() = default;

  // Loads DIR (config.json + model.safetensors[.index.json]) or a .gguf file onto the backend.
  static std::unique_ptr<Model> load(const std::string& dir, Backend& backend);
  // The model from a config and tensors already open (load() opens DIR and calls it; the
  // fuzz target calls it on a GGUF file read from memory). The weights are converted or
  // bound onto `backend`; `source` names the model in errors.
  static std::unique_ptr<Model> from_files(const std::string& source, const ModelConfig& config,
                                           const TensorStore& store, Backend& backend);

  const ModelConfig& config() const { return config_; }
  Backend& backend() const { return backend_; }

  virtual std::unique_ptr<ModelState> new_state(int64_t batch) const = 0;

  // Runs `seqlen` new tokens of `batch` sequences (ids row-major [B, T]) from `state` and
  // advances it. If `logits` is non-empty it receives F32 [B*T, V].
  virtual void forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seqlen,
                       ModelState& state, const Tensor& logits,
                       const HiddenHook& hook = nullptr) = 0;

  // Prefix reuse for the lens: a fresh prefill of blocks [first, L) only, starting from
  // `residual`, the stream entering block `first` exactly as HiddenHook delivered it at
  // index `first` ([B*S, H], read only). `first` must be a value resume_block() returned;
  // first = num_layers runs only the final norm and the head.
  virtual void forward_from(int64_t first, const Tensor& residual, int64_t batch,
                            int64_t seqlen, const Tensor& logits) = 0;
  // The block a probe of a layer in `block` must restart from: the block itself, or an
  // earlier one whose outputs it reads (a Hymba KV consumer restarts at its producer).
  virtual int64_t resume_block(int64_t block) const { return block; }

  // Every linear layer the lens may quantise, in forward order; with include_head, the
  // output head (kHeadLayer, block num_layers) last. Plans and the sweep list the head
  // only when asked, so their default stays "every block layer".
  std::vector<LinearLayer> linear_layers(bool include_head = false);

 protected:
  Model(ModelConfig config, Backend& backend) : config_(std::move(config)), backend_(backend) {}
  // The linear layers of the blocks, in forward order, and the output head.
  virtual std::vector<LinearLayer> block_layers() = 0;
  virtual Weight& lm_head() = 0;
  ModelConfig config_;
  Backend& backend_;
};

// Host-side convenience: prefill from a fresh state and return logits [B*T, V].
std::vector<float> compute_logits(Model& model, const std::vector<int32_t>& ids, int64_t batch,
                                  int64_t seqlen);

}  // namespace kllens
