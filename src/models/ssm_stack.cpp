// SsmStackModel: the block walk shared by Mamba-1 and Mamba-2 (see ssm_stack.h).
#include "models/ssm_stack.h"

#include <cmath>

#include "kllens/error.h"

namespace kllens {

const Tensor& RowBuffer::rows(Backend& be, int64_t n) {
  const int64_t have = buf_.empty() ? 0 : buf_.shape[0];
  if (n > have) buf_ = cols_ ? be.alloc(dtype_, {n, cols_}) : be.alloc(dtype_, {n});
  if (cols_) {
    view_ = buf_.slice_rows(0, n);
  } else {
    view_ = buf_.slice_elems(0, n);
  }
  return view_;
}

class SsmStackModel::State : public ModelState {
 public:
  std::vector<Tensor> conv;  // per block: the last K-1 pre-conv inputs
  std::vector<Tensor> ssm;   // per block: the SSM state
};

SsmStackModel::SsmStackModel(const ModelConfig& config, Backend& backend)
    : Model(config, backend),
      ids_(DType::I32, 0),
      h_(DType::F32, config.hidden_size),
      u_(DType::F32, config.hidden_size),
      out_(DType::F32, config.hidden_size) {}

std::unique_ptr<ModelState> SsmStackModel::new_state(int64_t batch) const {
  auto st = std::make_unique<State>();
  st->batch = batch;
  for (int64_t l = 0; l < config_.num_layers; ++l) {
    st->conv.push_back(backend_.alloc(DType::F32, conv_state_shape(batch)));
    st->ssm.push_back(backend_.alloc(DType::F32, ssm_state_shape(batch)));
    backend_.fill_zero(st->conv.back());
    backend_.fill_zero(st->ssm.back());
  }
  return st;
}

void SsmStackModel::forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seqlen,
                            ModelState& state, const Tensor& logits, const HiddenHook& hook) {
  auto& st = dynamic_cast<State&>(state);
  KL_CHECK(st.batch == batch, "state holds {} sequences, forward got {}", st.batch, batch);
  KL_CHECK(seqlen >= 1 && int64_t(ids.size()) == batch * seqlen, "{} ids for batch {} × {} tokens",
           ids.size(), batch, seqlen);
  const int64_t V = config_.vocab_size;
  for (int32_t id : ids)
    if (id < 0 || id >= V) fail("token id {} outside the vocabulary [0, {})", id, V);
  const int64_t rows = batch * seqlen;
  const Tensor& d_ids = ids_.rows(backend_, rows);
  const Tensor& h = h_.rows(backend_, rows);
  backend_.upload(d_ids, ids.data());
  backend_.embed(embedding(), d_ids, h);
  if (hook) hook(0, h);
  run_blocks(0, st, batch, seqlen, logits, hook);
  st.position += seqlen;
}

void SsmStackModel::forward_from(int64_t first, const Tensor& residual, int64_t batch,
                                 int64_t seqlen, const Tensor& logits) {
  KL_CHECK(first >= 0 && first <= config_.num_layers, "forward_from block {} of {}", first,
           config_.num_layers);
  backend_.copy(residual, h_.rows(backend_, batch * seqlen));
  auto st = new_state(batch);
  run_blocks(first, dynamic_cast<State&>(*st), batch, seqlen, logits, nullptr);
}

void SsmStackModel::run_blocks(int64_t first, State& st, int64_t batch, int64_t seqlen,
                               const Tensor& logits, const HiddenHook& hook) {
  const int64_t rows = batch * seqlen;
  const Tensor &h = h_.rows(backend_, rows), &u = u_.rows(backend_, rows),
               &out = out_.rows(backend_, rows);
  const float eps = float(config_.norm_eps);
  for (int64_t l = first; l < config_.num_layers; ++l) {
    if (l == first) {
      backend_.rms_norm(h, norms_[size_t(l)], eps, u);
    } else {
      backend_.add_rms_norm(h, out, norms_[size_t(l)], eps, u);  // h += out; u = norm(h)
      if (hook) hook(l, h);
    }
    mixer(l, u, out, st.conv[size_t(l)], st.ssm[size_t(l)], batch, seqlen);
  }
  if (first == config_.num_layers) {
    backend_.rms_norm(h, norm_f_, eps, u);  // only the head: h is the final residual
  } else {
    backend_.add_rms_norm(h, out, norm_f_, eps, u);
    if (hook) hook(config_.num_layers, h);
  }
  if (!logits.empty()) backend_.matmul(u, lm_head_, logits);
}

void SsmStackModel::load_stack(const WeightLoader& wl) {
  const int64_t V = config_.vocab_size, H = config_.hidden_size;
  const std::string emb_name = wl.store().find("backbone.embeddings.weight")
                                   ? "backbone.embeddings.weight"
                                   : "backbone.embedding.weight";  // mamba_ssm spelling
  const Tensor table = wl.stored(emb_name, {V, H});
  for (int64_t l = 0; l < config_.num_layers; ++l)
    norms_.push_back(wl.f32("backbone.layers." + std::to_string(l) + ".norm.weight", {H}));
  norm_f_ = wl.f32("backbone.norm_f.weight", {H});
  if (config_.tie_word_embeddings) {
    lm_head_.w = table;
  } else {
    embed_.w = table;
    lm_head_ = wl.linear("lm_head", V, H, false);
  }
}

Tensor SsmStackModel::load_A(const WeightLoader& wl, const std::string& name, const Shape& shape) {
  // A GGUF file holds A itself (llama.cpp's convention); its store names it "<mixer>.A".
  const std::string a_name = name.substr(0, name.size() - std::string("_log").size());
  std::vector<float> a;
  if (name.ends_with("_log") && wl.store().find(a_name)) {
    a = to_f32(wl.store().get(a_name, shape));
  } else {
    a = to_f32(wl.store().get(name, shape));
    for (float& v : a) v = -std::exp(v);
  }
  Tensor t = backend_.alloc(DType::F32, shape);
  backend_.upload(t, a.data());
  return t;
}

}  // namespace kllens
