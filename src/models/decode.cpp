// Decoder: the first replayable step is captured (model.forward while the backend
// records), later steps set the graph's one input, the token id, and replay it.
#include "kllens/decode.h"

#include "kllens/error.h"

namespace kllens {

Decoder::Decoder(Model& model, ModelState& state, Tensor logits, bool replay, Tensor greedy)
    : model_(model),
      state_(state),
      logits_(std::move(logits)),
      greedy_(std::move(greedy)),
      replay_(replay && replayable(model)) {
  KL_CHECK(state_.batch == 1, "Decoder: one sequence, the state holds {}", state_.batch);
  KL_CHECK(logits_.rows() == 1 && logits_.cols() == model.config().vocab_size,
           "Decoder: logits must be [1, {}], got {}", model.config().vocab_size, shape_str(logits_.shape));
  KL_CHECK(greedy_.empty() || (greedy_.dtype == DType::I32 && greedy_.numel() == 1),
           "Decoder: the greedy output must be I32 [1], got {}", shape_str(greedy_.shape));
}

void Decoder::run_forward(int32_t token) {
  model_.forward({token}, 1, 1, state_, logits_);
  if (!greedy_.empty()) model_.backend().argmax(logits_, greedy_);
}

bool Decoder::replayable(const Model& model) {
  // The Mamba step's host code (SsmStackModel::forward, src/models/ssm_stack.cpp) only
  // checks and uploads the ids and counts the position; Hymba's uses the position (see the
  // header). tests/test_vulkan_replay.cpp checks replayed steps against direct ones.
  const Arch a = model.config().arch;
  return a == Arch::Mamba1 || a == Arch::Mamba2;
}

void Decoder::step(int32_t token) {
  Backend& be = model_.backend();
  const int64_t V = model_.config().vocab_size;
  if (graph_) {
    if (token < 0 || token >= V) fail("token id {} outside the vocabulary [0, {})", token, V);
    graph_->set_input(0, &token);
    be.replay(*graph_);
    ++state_.position;  // what forward() does on the host, which a replay skips
    return;
  }
  if (!replay_ || !be.begin_capture()) {
    run_forward(token);
    return;
  }
  std::unique_ptr<Graph> g;
  try {
    run_forward(token);  // recorded, not run; position advances
  } catch (...) {
    be.end_capture();  // leave the backend usable; the partial graph is dropped
    throw;
  }
  g = be.end_capture();
  be.replay(*g);  // this step's run
  // Replay later steps only if the token id is all the step uploads; otherwise keep running
  // forward() directly (the graph above ran this step once, correctly).
  if (g->inputs() == 1 && g->input_bytes(0) == sizeof(int32_t)) graph_ = std::move(g);
  else replay_ = false;
}

}  // namespace kllens
