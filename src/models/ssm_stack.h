// The residual stack Mamba-1 and Mamba-2 share (specs/mamba.md §3):
//   h = E[ids];  for each block ℓ: h += Mixer_ℓ(RMSNorm_ℓ(h));  logits = RMSNorm_f(h) · W_headᵀ
// with one conv state and one SSM state per block and sequence. The residual add of a block
// is fused into the next block's RMSNorm (add_rms_norm). This class owns the embedding, the
// norms, the head and the walk over the blocks (forward, forward_from); a subclass supplies
// the mixer, its weights, its state shapes and its own activations.
#pragma once

#include <string>
#include <vector>

#include "kllens/model.h"
#include "models/weights.h"

namespace kllens {

// An activation buffer of `cols` columns (0: a 1-D buffer) that grows to the largest call
// and hands out views of its first rows.
class RowBuffer {
 public:
  RowBuffer(DType dtype, int64_t cols) : dtype_(dtype), cols_(cols) {}
  const Tensor& rows(Backend& be, int64_t n);

 private:
  DType dtype_;
  int64_t cols_;
  Tensor buf_, view_;
};

class SsmStackModel : public Model {
 public:
  std::unique_ptr<ModelState> new_state(int64_t batch) const override;
  void forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seqlen, ModelState& state,
               const Tensor& logits, const HiddenHook& hook) override;
  void forward_from(int64_t first, const Tensor& residual, int64_t batch, int64_t seqlen,
                    const Tensor& logits) override;

 protected:
  SsmStackModel(const ModelConfig& config, Backend& backend);

  // One block's conv and SSM state for `batch` sequences.
  virtual Shape conv_state_shape(int64_t batch) const = 0;
  virtual Shape ssm_state_shape(int64_t batch) const = 0;
  // Block l's mixer over rows = batch·seqlen tokens: u [rows, H] → out [rows, H],
  // advancing the block's states.
  virtual void mixer(int64_t l, const Tensor& u, const Tensor& out, const Tensor& conv_state,
                     const Tensor& ssm_state, int64_t batch, int64_t seqlen) = 0;

  // The embedding (HF or mamba_ssm spelling), the block norms, norm_f and the head.
  void load_stack(const WeightLoader& wl);
  Weight& lm_head() override { return lm_head_; }
  // A = −exp(A_log), computed once in fp32 as HF does (A_log.float()).
  Tensor load_A(const WeightLoader& wl, const std::string& name, const Shape& shape);

 private:
  class State;
  // Blocks [first, L) on the residual h_, then the final norm and (if asked) the logits.
  void run_blocks(int64_t first, State& st, int64_t batch, int64_t seqlen, const Tensor& logits,
                  const HiddenHook& hook);

  // The embedding the forward pass reads: a tied one is lm_head_ itself (one stored copy,
  // quantised with the head), an untied one embed_.
  const Weight& embedding() const { return config_.tie_word_embeddings ? lm_head_ : embed_; }

  Weight embed_;               // [V, H] storage type; empty when tied
  std::vector<Tensor> norms_;  // per block F32 [H]
  Tensor norm_f_;              // F32 [H]
  Weight lm_head_;             // [V, H]
  RowBuffer ids_, h_, u_, out_;  // I32 [rows]; residual, normalised input, mixer output [rows, H]
};

}  // namespace kllens
