// Token-by-token decode of one sequence, replayed from a recorded step where it can be
// ("record once, replay per token", STYLE.md).
//
// Each step is model.forward({token}, 1, 1, state, logits). Where the backend captures
// (Vulkan) and the architecture's one-token step does not depend on the position on the
// host (Mamba-1 and Mamba-2: the recurrent state on the device carries everything), the
// first step is captured as a Graph whose one input is the token id; every later step
// writes the id into that input and replays the graph, recording nothing. Hymba's step
// reads its position on the host (RoPE offset, KV-cache slots, attention window) and runs
// directly. Results are identical either way: the same kernels with the same arguments.
//
// The graph binds the model's weights, scratch, `state` and `logits` as they were at the
// first step: make a new Decoder after swapping a weight or reallocating either.
#pragma once

#include <memory>

#include "kllens/model.h"

namespace kllens {

class Decoder {
 public:
  // logits: F32 [1, V] on the model's backend, written by every step. greedy, if given:
  // I32 [1] on the same backend, where every step also writes argmax(logits)
  // (Backend::argmax, inside the replayed graph), so a greedy caller downloads 4 bytes per
  // token instead of the logits row.
  Decoder(Model& model, ModelState& state, Tensor logits, bool replay = true, Tensor greedy = {});
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // One token through the model (then the argmax into `greedy`, if given); advances
  // state.position by one.
  void step(int32_t token);
  // True once steps replay a recorded graph.
  bool replaying() const { return graph_ != nullptr; }
  // Whether this model's step may be replayed at all (its architecture, not the backend).
  static bool replayable(const Model& model);

 private:
  void run_forward(int32_t token);  // forward, then the argmax if asked for

  Model& model_;             // borrowed
  ModelState& state_;        // borrowed
  Tensor logits_;
  Tensor greedy_;  // empty, or I32 [1]: argmax(logits_) after each step
  bool replay_;
  std::unique_ptr<Graph> graph_;  // owned: the recorded step
};

}  // namespace kllens
