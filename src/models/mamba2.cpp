// Mamba-2 (Mamba2ForCausalLM), written once against the Backend interface.
//
// Per block (specs/mamba.md §3, §5), rows = B·T tokens, conv_dim = I + 2GN:
//   u          = RMSNorm(h)                                      [rows, H]
//   z|xBC|dt   = u · W_inᵀ                                       [rows, I + conv_dim + nh]
//   xBC        = silu(causal_conv1d(xBC) + b_conv)               [rows, conv_dim]  (conv state [B, K-1, conv_dim])
//   x | B | C  = xBC                                             [rows, I | GN | GN]
//   y          = ssd_scan(x, dt, dt_bias, A, B, C, D)            [rows, I]  (SSM state [B, nh, P, N])
//   y          = gated_rms_norm(y, z) per group of I/G           [rows, I]  (mamba_ssm semantics)
//   h         += y · W_outᵀ                                      [rows, H]
// then logits = RMSNorm_f(h) · Eᵀ (E tied, else lm_head.weight). The residual add of a
// block is fused into the next block's RMSNorm (add_rms_norm), as in mamba1.cpp.
#include "models/mamba2.h"

#include <cmath>

#include "kllens/error.h"
#include "models/weights.h"

namespace kllens {
namespace {

struct Mamba2Block {
  Tensor norm;      // F32 [H]
  Weight in_proj;   // [I + conv_dim + nh, H]
  Tensor conv_w;    // F32 [conv_dim, K]
  Tensor conv_b;    // F32 [conv_dim] or empty
  Tensor dt_bias;   // F32 [nh]
  Tensor A;         // F32 [nh] = -exp(A_log)
  Tensor D;         // F32 [nh]
  Tensor gnorm;     // F32 [I] gated-norm weight
  Weight out_proj;  // [H, I]
};

class Mamba2State : public ModelState {
 public:
  std::vector<Tensor> conv;  // per block F32 [B, K-1, conv_dim]: the last K-1 pre-conv inputs
  std::vector<Tensor> ssm;   // per block F32 [B, nh, P, N]
};

// Activations of one forward call; reallocated only when a call has more rows.
struct Mamba2Scratch {
  int64_t rows = 0;
  Tensor ids;    // I32 [rows]
  Tensor h;      // [rows, H] residual stream
  Tensor u;      // [rows, H] normalised block input
  Tensor zxbcdt; // [rows, I + conv_dim + nh]
  Tensor xbc;    // [rows, conv_dim] conv output
  Tensor y;      // [rows, I] scan output, then gated-normed in place
  Tensor out;    // [rows, H] block output, added to h by the next norm
};

class Mamba2Model : public Model {
 public:
  Mamba2Model(const ModelConfig& cfg, const TensorStore& store, Backend& be) : Model(cfg, be) {
    load(WeightLoader(store, be));
  }

  std::unique_ptr<ModelState> new_state(int64_t batch) const override {
    const auto& c = config_;
    auto st = std::make_unique<Mamba2State>();
    st->batch = batch;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      st->conv.push_back(backend_.alloc(DType::F32, {batch, c.conv_kernel - 1, c.conv_dim()}));
      st->ssm.push_back(
          backend_.alloc(DType::F32, {batch, c.num_heads, c.head_dim, c.state_size}));
      backend_.fill_zero(st->conv.back());
      backend_.fill_zero(st->ssm.back());
    }
    return st;
  }

  void forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seqlen, ModelState& state,
               const Tensor& logits, const HiddenHook& hook) override {
    auto& st = dynamic_cast<Mamba2State&>(state);
    KL_CHECK(st.batch == batch, "state holds {} sequences, forward got {}", st.batch, batch);
    KL_CHECK(seqlen >= 1 && int64_t(ids.size()) == batch * seqlen, "{} ids for batch {} × {} tokens",
             ids.size(), batch, seqlen);
    const auto& c = config_;
    Mamba2Scratch& s = scratch(batch * seqlen);
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
    Mamba2Scratch& s = scratch(batch * seqlen);
    backend_.copy(residual, s.h);
    auto st = new_state(batch);
    run_blocks(first, dynamic_cast<Mamba2State&>(*st), s, batch, seqlen, logits, nullptr);
  }

  std::vector<LinearLayer> linear_layers() override {
    std::vector<LinearLayer> out;
    for (size_t l = 0; l < blocks_.size(); ++l) {
      const std::string p = "backbone.layers." + std::to_string(l) + ".mixer.";
      out.push_back({p + "in_proj", &blocks_[l].in_proj, int64_t(l)});
      out.push_back({p + "out_proj", &blocks_[l].out_proj, int64_t(l)});
    }
    return out;
  }

 private:
  // Blocks [first, L) on s.h, then the final norm and (if asked) the logits.
  void run_blocks(int64_t first, Mamba2State& st, Mamba2Scratch& s, int64_t batch,
                  int64_t seqlen, const Tensor& logits, const HiddenHook& hook) {
    const auto& c = config_;
    const float eps = float(c.norm_eps);
    for (int64_t l = first; l < c.num_layers; ++l) {
      const Mamba2Block& b = blocks_[size_t(l)];
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

  // The Mamba-2 mixer of one block: s.u → s.out, advancing the block's states.
  void mixer(const Mamba2Block& b, const Tensor& conv_state, const Tensor& ssm_state,
             Mamba2Scratch& s, int64_t batch, int64_t seqlen) {
    const auto& c = config_;
    const int64_t I = c.intermediate_size, GN = c.n_groups * c.state_size, cd = c.conv_dim();
    backend_.matmul(s.u, b.in_proj, s.zxbcdt);
    const Tensor z = s.zxbcdt.slice_cols(0, I);

    Conv1dArgs conv{s.zxbcdt.slice_cols(I, cd), b.conv_w, b.conv_b, conv_state, s.xbc,
                    batch, seqlen, true};
    backend_.conv1d_causal(conv);

    SsdScanArgs scan;
    scan.x = s.xbc.slice_cols(0, I);
    scan.dt = s.zxbcdt.slice_cols(I + cd, c.num_heads);
    scan.dt_bias = b.dt_bias;
    scan.A = b.A;
    scan.B = s.xbc.slice_cols(I, GN);
    scan.C = s.xbc.slice_cols(I + GN, GN);
    scan.D = b.D;
    scan.state = ssm_state;
    scan.out = s.y;
    scan.batch = batch;
    scan.seqlen = seqlen;
    scan.heads = c.num_heads;
    scan.head_dim = c.head_dim;
    scan.groups = c.n_groups;
    scan.state_size = c.state_size;
    scan.chunk = c.chunk_size;
    scan.dt_min = float(c.dt_limit_lo);
    scan.dt_max = float(c.dt_limit_hi);
    backend_.ssd_scan(scan);

    backend_.rms_norm_gated(s.y, z, b.gnorm, I / c.n_groups, float(c.norm_eps), s.y);
    backend_.matmul(s.y, b.out_proj, s.out);
  }

  Mamba2Scratch& scratch(int64_t rows) {
    if (rows <= scratch_.rows) {
      // Views of the first `rows` rows of the larger buffers.
      view_ = scratch_;
      view_.rows = rows;
      for (Tensor* t : {&view_.h, &view_.u, &view_.zxbcdt, &view_.xbc, &view_.y, &view_.out})
        *t = t->slice_rows(0, rows);
      view_.ids.shape = {rows};
      view_.ids.row_stride = rows;
      return view_;
    }
    const auto& c = config_;
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    scratch_.rows = rows;
    scratch_.ids = backend_.alloc(DType::I32, {rows});
    scratch_.h = backend_.alloc(DType::F32, {rows, H});
    scratch_.u = backend_.alloc(DType::F32, {rows, H});
    scratch_.zxbcdt = backend_.alloc(DType::F32, {rows, c.in_proj_rows(0)});
    scratch_.xbc = backend_.alloc(DType::F32, {rows, c.conv_dim()});
    scratch_.y = backend_.alloc(DType::F32, {rows, I});
    scratch_.out = backend_.alloc(DType::F32, {rows, H});
    return scratch_;
  }

  void load(const WeightLoader& wl) {
    const auto& c = config_;
    const int64_t V = c.vocab_size, H = c.hidden_size, I = c.intermediate_size;
    const int64_t K = c.conv_kernel, nh = c.num_heads, cd = c.conv_dim();
    const std::string emb_name = wl.store().find("backbone.embeddings.weight")
                                     ? "backbone.embeddings.weight"
                                     : "backbone.embedding.weight";  // mamba_ssm spelling
    embed_ = wl.stored(emb_name, {V, H});
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = "backbone.layers." + std::to_string(l) + ".";
      const std::string m = p + "mixer.";
      Mamba2Block b;
      b.norm = wl.f32(p + "norm.weight", {H});
      b.in_proj = wl.linear(m + "in_proj", c.in_proj_rows(l), H, c.use_bias);
      b.conv_w = wl.f32(m + "conv1d.weight", {cd, 1, K}, {cd, K});
      if (c.use_conv_bias) b.conv_b = wl.f32(m + "conv1d.bias", {cd});
      b.dt_bias = wl.f32(m + "dt_bias", {nh});
      b.A = load_A(wl, m + "A_log", nh);
      b.D = wl.f32(m + "D", {nh});
      b.gnorm = wl.f32(m + "norm.weight", {I});
      b.out_proj = wl.linear(m + "out_proj", H, I, c.use_bias);
      blocks_.push_back(std::move(b));
    }
    norm_f_ = wl.f32("backbone.norm_f.weight", {H});
    lm_head_.w = c.tie_word_embeddings ? embed_ : wl.stored("lm_head.weight", {V, H});
  }

  // A = -exp(A_log), computed once in fp32 as HF does (A_log.float()).
  Tensor load_A(const WeightLoader& wl, const std::string& name, int64_t nh) {
    std::vector<float> a = to_f32(wl.store().get(name, {nh}));
    for (float& v : a) v = -std::exp(v);
    Tensor t = backend_.alloc(DType::F32, {nh});
    backend_.upload(t, a.data());
    return t;
  }

  Tensor embed_;   // [V, H] storage type
  std::vector<Mamba2Block> blocks_;
  Tensor norm_f_;  // F32 [H]
  Weight lm_head_; // [V, H]
  Mamba2Scratch scratch_, view_;
};

}  // namespace

std::unique_ptr<Model> load_mamba2(const ModelConfig& config, const TensorStore& store,
                                   Backend& backend) {
  return std::make_unique<Mamba2Model>(config, store, backend);
}

}  // namespace kllens
