// Model loading by architecture, and host-side helpers shared by every model.
#include "kllens/model.h"

#include "kllens/checkpoint.h"
#include "kllens/error.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"
#include "kllens/safetensors.h"
#include "models/hymba.h"
#include "models/mamba1.h"
#include "models/mamba2.h"

namespace kllens {

std::unique_ptr<Model> Model::load(const std::string& dir, Backend& backend) {
  const ModelFiles files = open_model_files(dir);
  // A kllens quantised checkpoint: types as its config.json says.
  if (!is_gguf_file(dir)) check_quantization_config(dir, files.store);
  return from_files(dir, files.config, files.store, backend);
}

std::unique_ptr<Model> Model::from_files(const std::string& source, const ModelConfig& config,
                                         const TensorStore& store, Backend& backend) {
  switch (config.arch) {
    case Arch::Mamba1: return load_mamba1(config, store, backend);
    case Arch::Mamba2: return load_mamba2(config, store, backend);
    case Arch::Hymba: return load_hymba(config, store, backend);
    default: fail("{}: architecture {} is not supported yet", source, arch_name(config.arch));
  }
}

std::vector<LinearLayer> Model::linear_layers(bool include_head) {
  std::vector<LinearLayer> out = block_layers();
  if (include_head) out.push_back({kHeadLayer, &lm_head(), config_.num_layers});
  return out;
}

std::vector<float> compute_logits(Model& model, const std::vector<int32_t>& ids, int64_t batch,
                                  int64_t seqlen) {
  Backend& be = model.backend();
  auto state = model.new_state(batch);
  Tensor logits = be.alloc(DType::F32, {batch * seqlen, model.config().vocab_size});
  model.forward(ids, batch, seqlen, *state, logits);
  std::vector<float> out(static_cast<size_t>(logits.numel()));
  be.download(logits, out.data());
  return out;
}

}  // namespace kllens
