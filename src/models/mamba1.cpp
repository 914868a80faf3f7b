// Mamba-1 (MambaForCausalLM), written once against the Backend interface.
//
// Per block (specs/mamba.md §3–4), rows = B·T tokens:
//   u      = RMSNorm(h)                                   [rows, H]
//   x | z  = u · W_inᵀ                                    [rows, 2I]
//   xc     = silu(causal_conv1d(x) + b_conv)              [rows, I]   (conv state [B, K-1, I])
//   δ|B|C  = xc · W_xᵀ                                    [rows, R+2N]
//   Δraw   = δ · W_dtᵀ + b_dt                              [rows, I]   (softplus in the scan)
//   y      = selective_scan(xc, Δ, A, B, C, D) · silu(z)  [rows, I]   (SSM state [B, I, N])
//   h     += y · W_outᵀ                                    [rows, H]
// then logits = RMSNorm_f(h) · Eᵀ (E tied unless lm_head.weight is given).
// The residual add of a block is fused into the next block's RMSNorm (add_rms_norm).
#include "models/mamba1.h"

#include <cmath>

#include "kllens/error.h"
#include "models/weights.h"

namespace kllens {
namespace {

struct Mamba1Block {
  Tensor norm;      // F32 [H]
  Weight in_proj;   // [2I, H]
  Tensor conv_w;    // F32 [I, K]
  Tensor conv_b;    // F32 [I] or empty
  Weight x_proj;    // [R+2N, I]
  Weight dt_proj;   // [I, R] with bias [I]
  Tensor A;         // F32 [I, N] = -exp(A_log)
  Tensor D;         // F32 [I]
  Weight out_proj;  // [H, I]
};

class Mamba1State : public ModelState {
 public:
  std::vector<Tensor> conv;  // per block F32 [B, K-1, I]: the last K-1 pre-conv inputs
  std::vector<Tensor> ssm;   // per block F32 [B, I, N]
};

// Activations of one forward call; reallocated only when a call has more rows.
struct Mamba1Scratch {
  int64_t rows = 0;
  Tensor ids;    // I32 [rows]
  Tensor h;      // [rows, H] residual stream
  Tensor u;      // [rows, H] normalised block input
  Tensor xz;     // [rows, 2I]
  Tensor xc;     // [rows, I]
  Tensor xdbc;   // [rows, R+2N]
  Tensor dt;     // [rows, I]
  Tensor y;      // [rows, I]
  Tensor out;    // [rows, H] block output, added to h by the next norm
};

class Mamba1Model : public Model {
 public:
  Mamba1Model(const ModelConfig& cfg, const TensorStore& store, Backend& be) : Model(cfg, be) {
    load(WeightLoader(store, be));
  }

  std::unique_ptr<ModelState> new_state(int64_t batch) const override {
    const auto& c = config_;
    auto st = std::make_unique<Mamba1State>();
    st->batch = batch;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      st->conv.push_back(backend_.alloc(DType::F32, {batch, c.conv_kernel - 1, c.intermediate_size}));
      st->ssm.push_back(backend_.alloc(DType::F32, {batch, c.intermediate_size, c.state_size}));
      backend_.fill_zero(st->conv.back());
      backend_.fill_zero(st->ssm.back());
    }
    return st;
  }

  void forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seqlen, ModelState& state,
               const Tensor& logits, const HiddenHook& hook) override {
    auto& st = dynamic_cast<Mamba1State&>(state);
    KL_CHECK(st.batch == batch, "state holds {} sequences, forward got {}", st.batch, batch);
    KL_CHECK(int64_t(ids.size()) == batch * seqlen, "{} ids for batch {} × {} tokens", ids.size(),
             batch, seqlen);
    const auto& c = config_;
    Mamba1Scratch& s = scratch(batch * seqlen);
    for (int32_t id : ids)
      if (id < 0 || id >= c.vocab_size) fail("token id {} outside the vocabulary [0, {})", id, c.vocab_size);
    backend_.upload(s.ids, ids.data());
    backend_.embed(embed_, s.ids, s.h);
    if (hook) hook(0, s.h);
    run_blocks(0, st, s, batch, seqlen, logits, hook);
    st.position += seqlen;
  }

  void forward_from(int64_t first, const Tensor& residual, int64_t batch, int64_t seqlen,
                    const Tensor& logits) override {
    KL_CHECK(first >= 0 && first < config_.num_layers, "forward_from block {} of {}", first,
             config_.num_layers);
    Mamba1Scratch& s = scratch(batch * seqlen);
    backend_.copy(residual, s.h);
    auto st = new_state(batch);
    run_blocks(first, dynamic_cast<Mamba1State&>(*st), s, batch, seqlen, logits, nullptr);
  }

  std::vector<LinearLayer> linear_layers() override {
    std::vector<LinearLayer> out;
    for (size_t l = 0; l < blocks_.size(); ++l) {
      const std::string p = "backbone.layers." + std::to_string(l) + ".mixer.";
      auto& b = blocks_[l];
      out.push_back({p + "in_proj", &b.in_proj, int64_t(l)});
      out.push_back({p + "x_proj", &b.x_proj, int64_t(l)});
      out.push_back({p + "dt_proj", &b.dt_proj, int64_t(l)});
      out.push_back({p + "out_proj", &b.out_proj, int64_t(l)});
    }
    return out;
  }

 private:
  // Blocks [first, L) on s.h, then the final norm and (if asked) the logits.
  void run_blocks(int64_t first, Mamba1State& st, Mamba1Scratch& s, int64_t batch,
                  int64_t seqlen, const Tensor& logits, const HiddenHook& hook) {
    const auto& c = config_;
    const float eps = float(c.norm_eps);
    for (int64_t l = first; l < c.num_layers; ++l) {
      const Mamba1Block& b = blocks_[size_t(l)];
      if (l == first) {
        backend_.rms_norm(s.h, b.norm, eps, s.u);
      } else {
        backend_.add_rms_norm(s.h, s.out, b.norm, eps, s.u);
        if (hook) hook(l, s.h);
      }
      mixer(b, st.conv[size_t(l)], st.ssm[size_t(l)], s, batch, seqlen);
    }
    backend_.add_rms_norm(s.h, s.out, norm_f_, eps, s.u);
    if (hook) hook(c.num_layers, s.h);
    if (!logits.empty()) backend_.matmul(s.u, lm_head_, logits);
  }

  // The Mamba-1 mixer of one block: s.u → s.out, advancing the block's states.
  void mixer(const Mamba1Block& b, const Tensor& conv_state, const Tensor& ssm_state,
             Mamba1Scratch& s, int64_t batch, int64_t seqlen) {
    const auto& c = config_;
    const int64_t I = c.intermediate_size, N = c.state_size, R = c.time_step_rank;
    backend_.matmul(s.u, b.in_proj, s.xz);
    const Tensor x = s.xz.slice_cols(0, I), z = s.xz.slice_cols(I, I);

    Conv1dArgs conv{x, b.conv_w, b.conv_b, conv_state, s.xc, batch, seqlen, true};
    backend_.conv1d_causal(conv);

    backend_.matmul(s.xc, b.x_proj, s.xdbc);
    backend_.matmul(s.xdbc.slice_cols(0, R), b.dt_proj, s.dt);

    SsmScanArgs scan;
    scan.u = s.xc;
    scan.delta = s.dt;
    scan.A = b.A;
    scan.B = s.xdbc.slice_cols(R, N);
    scan.C = s.xdbc.slice_cols(R + N, N);
    scan.D = b.D;
    scan.z = z;
    scan.state = ssm_state;
    scan.out = s.y;
    scan.batch = batch;
    scan.seqlen = seqlen;
    scan.delta_softplus = true;
    backend_.ssm_scan(scan);

    backend_.matmul(s.y, b.out_proj, s.out);
  }

  Mamba1Scratch& scratch(int64_t rows) {
    if (rows <= scratch_.rows) {
      // Views of the first `rows` rows of the larger buffers.
      view_ = scratch_;
      view_.rows = rows;
      for (Tensor* t : {&view_.h, &view_.u, &view_.xz, &view_.xc, &view_.xdbc, &view_.dt,
                        &view_.y, &view_.out})
        *t = t->slice_rows(0, rows);
      view_.ids.shape = {rows};
      view_.ids.row_stride = rows;
      return view_;
    }
    const auto& c = config_;
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const int64_t P = c.time_step_rank + 2 * c.state_size;
    scratch_.rows = rows;
    scratch_.ids = backend_.alloc(DType::I32, {rows});
    scratch_.h = backend_.alloc(DType::F32, {rows, H});
    scratch_.u = backend_.alloc(DType::F32, {rows, H});
    scratch_.xz = backend_.alloc(DType::F32, {rows, 2 * I});
    scratch_.xc = backend_.alloc(DType::F32, {rows, I});
    scratch_.xdbc = backend_.alloc(DType::F32, {rows, P});
    scratch_.dt = backend_.alloc(DType::F32, {rows, I});
    scratch_.y = backend_.alloc(DType::F32, {rows, I});
    scratch_.out = backend_.alloc(DType::F32, {rows, H});
    return scratch_;
  }

  void load(const WeightLoader& wl) {
    const auto& c = config_;
    const int64_t V = c.vocab_size, H = c.hidden_size, I = c.intermediate_size;
    const int64_t N = c.state_size, K = c.conv_kernel, R = c.time_step_rank;
    const std::string emb_name = wl.store().find("backbone.embeddings.weight")
                                     ? "backbone.embeddings.weight"
                                     : "backbone.embedding.weight";  // mamba_ssm spelling
    embed_ = wl.stored(emb_name, {V, H});
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = "backbone.layers." + std::to_string(l) + ".";
      const std::string m = p + "mixer.";
      Mamba1Block b;
      b.norm = wl.f32(p + "norm.weight", {H});
      b.in_proj = wl.linear(m + "in_proj", 2 * I, H, c.use_bias);
      b.conv_w = wl.f32(m + "conv1d.weight", {I, 1, K}, {I, K});
      if (c.use_conv_bias) b.conv_b = wl.f32(m + "conv1d.bias", {I});
      b.x_proj = wl.linear(m + "x_proj", R + 2 * N, I, false);
      b.dt_proj = wl.linear(m + "dt_proj", I, R, true);
      b.A = load_A(wl, m + "A_log", I, N);
      b.D = wl.f32(m + "D", {I});
      b.out_proj = wl.linear(m + "out_proj", H, I, c.use_bias);
      blocks_.push_back(std::move(b));
    }
    norm_f_ = wl.f32("backbone.norm_f.weight", {H});
    lm_head_.w = c.tie_word_embeddings ? embed_ : wl.stored("lm_head.weight", {V, H});
  }

  // A = -exp(A_log), computed once in fp32 as HF does (A_log.float()).
  Tensor load_A(const WeightLoader& wl, const std::string& name, int64_t I, int64_t N) {
    std::vector<float> a = to_f32(wl.store().get(name, {I, N}));
    for (float& v : a) v = -std::exp(v);
    Tensor t = backend_.alloc(DType::F32, {I, N});
    backend_.upload(t, a.data());
    return t;
  }

  Tensor embed_;   // [V, H] storage type
  std::vector<Mamba1Block> blocks_;
  Tensor norm_f_;  // F32 [H]
  Weight lm_head_; // [V, H]
  Mamba1Scratch scratch_, view_;
};

}  // namespace

std::unique_ptr<Model> load_mamba1(const ModelConfig& config, const TensorStore& store,
                                   Backend& backend) {
  return std::make_unique<Mamba1Model>(config, store, backend);
}

}  // namespace kllens
