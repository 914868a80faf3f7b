// Access to the PyTorch reference outputs in ../shared/fixtures/<model>/reference.*, and
// the fixtures' protocols (fixtures/README.md) run on a kllens model on any backend, so
// that every golden suite computes what the reference computed in the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kllens/model.h"
#include "kllens/perplexity.h"
#include "kllens/safetensors.h"

namespace kllens::test {

class Reference {
 public:
  explicit Reference(const std::string& fixture);  // e.g. "tiny-mamba"
  std::string model_dir() const { return dir_; }
  std::vector<float> f32(const std::string& name) const;
  std::vector<int32_t> i32(const std::string& name) const;
  Shape shape(const std::string& name) const;
  const nlohmann::json& json() const { return json_; }

 private:
  std::string dir_;
  std::shared_ptr<SafetensorsFile> file_;
  nlohmann::json json_;
};

// ---- the fixtures' protocols -------------------------------------------------------------

// Greedy decoding as the reference did it: a prefill of `prompt`, then `steps` times:
// take the argmax of the last logits, feed it as a one-token step, keep that step's logits.
// The steps go through a kllens::Decoder: replayed from one captured step where `replay`
// and the backend allow it, direct forward calls otherwise.
struct GreedyRun {
  std::vector<int32_t> ids;         // [steps]
  std::vector<float> step_logits;   // [steps, V]
  // [steps]: the Decoder's greedy output after each step (Backend::argmax, in the step),
  // and the host's argmax of the step's downloaded logits; the two must agree.
  std::vector<int32_t> device_argmax, host_argmax;
  bool replayed = false;            // the Decoder replayed a captured step
  int64_t position = 0;             // the state's position afterwards
};
GreedyRun greedy_decode(Model& model, const std::vector<int32_t>& prompt, size_t steps,
                        bool replay = false);

// The residual stream after the embedding and after every block for ids [B, T], laid out
// as reference.safetensors' hidden_states [L+1, B, S, H] (`shape`; S includes Hymba's meta
// rows). Indices the hook never delivered stay NaN.
std::vector<float> hidden_states(Model& model, const std::vector<int32_t>& ids, int64_t batch,
                                 int64_t seqlen, const Shape& shape);

// Logits [B, T, V] of ids [B, T]: a prefill of the first `prefill` tokens of every
// sequence, then one decode step (all B sequences at once) per remaining token.
// prefill = 0 decodes every token from a fresh state.
std::vector<float> prefill_then_decode(Model& model, const std::vector<int32_t>& ids,
                                       int64_t batch, int64_t seqlen, int64_t prefill);

// test_ppl: the first 8192 tokens of ../shared/data/brown/test.txt under the fixture's
// tokenizer, 32 windows of 256, tokens 1..255 of each scored, `batch` windows per call.
PerplexityResult test_split_perplexity(Model& model, const Reference& ref, int64_t batch = 8);

}  // namespace kllens::test
