// Hymba (HymbaForCausalLM), written once against the Backend interface
// (specs/hymba.md). Per layer ℓ, rows = B·S tokens, S = M meta + T real on a fresh
// sequence (the meta tokens are prepended by the first forward call), T afterwards:
//   u        = RMSNorm_in(h)                                        [rows, H]
//   q|k|v|x|z = u · W_inᵀ   (KV consumers: q|x|z)                   [rows, H + kh + vh + 2I]
//              as three products over row blocks of W_in, into q|k|v, x and z: strided
//              views of one [rows, 8960] product span 151 MB at 4096 tokens of
//              Hymba-1.5B, more than a binding may cover on lavapipe (128 MiB)
//   q, k     = RoPE(q, k) at positions past + t                    (NTK base, fp32 inv_freq)
//   attn     = attention(q, K/V cache of ℓ or its producer)        [rows, I = nh·vhd]
//              causal, GQA, global or sliding window W with the M meta keys always visible
//   xc       = silu(causal_conv1d(x) + b)                           [rows, I]  (conv state)
//   dt|B|C   = RMSNorm_{dt,B,C}(xc · W_xᵀ)                          [rows, R | N | N]
//   y        = selective_scan(xc, dt·W_dtᵀ + b_dt, A, B, C, D) · silu(z)   [rows, I]
//   h       += (RMSNorm_β1(attn) + RMSNorm_β2(y)) / 2 · W_outᵀ      (the 1/2 folded into
//                                                                    β1, β2 at load: exact)
//   h       += down(silu(gate(v)) ⊙ up(v)),  v = RMSNorm_moe(h)      (SwiGLU)
// then logits = RMSNorm_f(h)[real rows] · Eᵀ. Residual adds are fused into the next
// RMSNorm (add_rms_norm); the hook sees h with the meta rows ([B·S, H]).
#include "models/hymba.h"

#include <algorithm>
#include <cmath>

#include "kllens/error.h"
#include "models/hymba_kv.h"
#include "models/weights.h"

namespace kllens {
namespace {

struct HymbaBlock {
  Tensor in_norm;                  // F32 [H]
  Weight in_proj;                  // [rows_ℓ, H]
  Tensor conv_w, conv_b;           // F32 [I, K], [I] or empty
  Weight x_proj;                   // [R + 2N, I]
  Weight dt_proj;                  // [I, R] with bias [I]
  Tensor A;                        // F32 [I, N] = -exp(A_log)
  Tensor D;                        // F32 [I]
  Tensor dt_norm, B_norm, C_norm;  // F32 [R], [N], [N], or empty
  Tensor attn_norm, ssm_norm;      // F32 [I]: β1/2, β2/2
  Weight out_proj;                 // [H, I]
  Tensor mlp_norm;                 // F32 [H], or empty without MLP
  Weight gate, up, down;           // [FF, H], [FF, H], [H, FF]
  int64_t kv_layer = 0;            // the layer whose K/V cache this one reads (itself or producer)
  bool own_kv = true, global = true;
};

class HymbaState : public ModelState {
 public:
  std::vector<Tensor> conv;   // per block F32 [B, K-1, I]
  std::vector<Tensor> ssm;    // per block F32 [B, I, N]
  std::vector<KvCache> kv;    // per block; used for own-K/V blocks only
};

// Activations of one forward call; reallocated only when a call has more rows.
struct HymbaScratch {
  int64_t rows = 0;
  Tensor ids;          // I32 [rows] (first B·T used)
  Tensor emb;          // [rows, H] embedded real tokens before the meta rows are interleaved
  Tensor h, u, out;    // [rows, H] residual, normalised input, block output
  Tensor proj;         // [rows, max q|k|v width] (H + kh + vh, or H for KV consumers)
  Tensor x, z;         // [rows, I] SSM input and gate (in_proj rows after q|k|v)
  Tensor attn;         // [rows, I]
  Tensor xc, dt, y;    // [rows, I]
  Tensor dbc;          // [rows, R + 2N]
  Tensor gate, up;     // [rows, FF]
};

class HymbaModel : public Model {
 public:
  HymbaModel(const ModelConfig& cfg, const TensorStore& store, Backend& be) : Model(cfg, be) {
    KL_CHECK(cfg.mlp_act == "silu" || cfg.mlp_size == 0,
             "Hymba: mlp_hidden_act \"{}\" is not supported (only silu / SwiGLU)", cfg.mlp_act);
    load(WeightLoader(store, be));
  }

  // A fresh sequence: zero conv/SSM states and empty KV caches. Its first forward call
  // prepends the meta tokens, so the state after it equals a prefill of meta + prompt.
  std::unique_ptr<ModelState> new_state(int64_t batch) const override {
    const auto& c = config_;
    auto st = std::make_unique<HymbaState>();
    st->batch = batch;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      st->conv.push_back(backend_.alloc(DType::F32, {batch, c.conv_kernel - 1, c.intermediate_size}));
      st->ssm.push_back(backend_.alloc(DType::F32, {batch, c.intermediate_size, c.state_size}));
      backend_.fill_zero(st->conv.back());
      backend_.fill_zero(st->ssm.back());
      KvCache kv;
      kv.window = !kv_global_[size_t(l)];
      st->kv.push_back(kv);
    }
    return st;
  }

  void forward(const std::vector<int32_t>& ids, int64_t batch, int64_t seqlen, ModelState& state,
               const Tensor& logits, const HiddenHook& hook) override {
    auto& st = dynamic_cast<HymbaState&>(state);
    KL_CHECK(st.batch == batch, "state holds {} sequences, forward got {}", st.batch, batch);
    KL_CHECK(seqlen >= 1 && int64_t(ids.size()) == batch * seqlen, "{} ids for batch {} × {} tokens",
             ids.size(), batch, seqlen);
    const auto& c = config_;
    const int64_t M = c.num_meta_tokens;
    const bool fresh = st.position == 0;
    const int64_t S = fresh ? M + seqlen : seqlen, past = fresh ? 0 : M + st.position;
    HymbaScratch& s = scratch(batch * S);
    for (int32_t id : ids)
      if (id < 0 || id >= c.vocab_size) fail("token id {} outside the vocabulary [0, {})", id, c.vocab_size);
    const Tensor idt = s.ids.slice_elems(0, batch * seqlen);  // the first B·T ids
    backend_.upload(idt, ids.data());
    if (fresh && M > 0) {
      // [meta | tokens] per sequence.
      const Tensor emb = s.emb.slice_rows(0, batch * seqlen);
      backend_.embed(embedding(), idt, emb);
      for (int64_t b = 0; b < batch; ++b) {
        backend_.copy(meta_, s.h.slice_rows(b * S, M));
        backend_.copy(emb.slice_rows(b * seqlen, seqlen), s.h.slice_rows(b * S + M, seqlen));
      }
    } else {
      backend_.embed(embedding(), idt, s.h);
    }
    if (hook) hook(0, s.h);
    reserve_kv(st, past, S);
    run_blocks(0, st, s, batch, S, past, seqlen, logits, hook);
    st.position += seqlen;
  }

  // seqlen counts the real tokens; residual holds B·(M + seqlen) rows with the meta rows.
  void forward_from(int64_t first, const Tensor& residual, int64_t batch, int64_t seqlen,
                    const Tensor& logits) override {
    const auto& c = config_;
    KL_CHECK(first >= 0 && first <= c.num_layers && resume_block(first) == first,
             "forward_from block {}: not a restart point (resume_block gives {})", first,
             first >= 0 && first <= c.num_layers ? resume_block(first) : -1);
    const int64_t S = c.num_meta_tokens + seqlen;
    KL_CHECK(residual.rows() == batch * S, "forward_from: residual has {} rows, expected {} × {}",
             residual.rows(), batch, S);
    HymbaScratch& s = scratch(batch * S);
    backend_.copy(residual, s.h);
    auto st = new_state(batch);
    auto& hs = dynamic_cast<HymbaState&>(*st);
    reserve_kv(hs, 0, S);
    run_blocks(first, hs, s, batch, S, 0, seqlen, logits, nullptr);
  }

  // A block is a restart point when no later block reads K/V made before it: a probe of
  // a KV consumer (or of any block inside a producer's group) restarts at the producer.
  int64_t resume_block(int64_t block) const override {
    int64_t f = block;
    for (bool moved = true; moved;) {
      moved = false;
      for (int64_t l = f; l < config_.num_layers; ++l)
        if (blocks_[size_t(l)].kv_layer < f) {
          f = blocks_[size_t(l)].kv_layer;
          moved = true;
        }
    }
    return f;
  }

  Weight& lm_head() override { return lm_head_; }

  std::vector<LinearLayer> block_layers() override {
    std::vector<LinearLayer> out;
    for (size_t l = 0; l < blocks_.size(); ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      auto& b = blocks_[l];
      const int64_t bl = int64_t(l);
      out.push_back({p + "mamba.in_proj", &b.in_proj, bl});
      out.push_back({p + "mamba.x_proj.0", &b.x_proj, bl});
      out.push_back({p + "mamba.dt_proj.0", &b.dt_proj, bl});
      out.push_back({p + "mamba.out_proj", &b.out_proj, bl});
      if (config_.mlp_size > 0) {
        out.push_back({p + "moe.experts.0.gate_proj", &b.gate, bl});
        out.push_back({p + "moe.experts.0.up_proj", &b.up, bl});
        out.push_back({p + "moe.experts.0.down_proj", &b.down, bl});
      }
    }
    return out;
  }

 private:
  void reserve_kv(HymbaState& st, int64_t past, int64_t S) {
    const auto& c = config_;
    for (int64_t l = 0; l < c.num_layers; ++l)
      if (blocks_[size_t(l)].own_kv)
        kv_reserve(backend_, st.kv[size_t(l)], st.batch, c.num_kv_heads * c.qk_head_dim,
                   c.num_kv_heads * c.v_head_dim, c.num_meta_tokens, c.sliding_window, past, S);
  }

  // Blocks [first, L) on s.h (S rows per sequence from absolute position past), then the
  // final norm and (if asked) the logits of the T real rows of each sequence.
  void run_blocks(int64_t first, HymbaState& st, HymbaScratch& s, int64_t batch, int64_t S,
                  int64_t past, int64_t T, const Tensor& logits, const HiddenHook& hook) {
    const auto& c = config_;
    const float eps = float(c.norm_eps);
    for (int64_t l = first; l < c.num_layers; ++l) {
      const HymbaBlock& b = blocks_[size_t(l)];
      if (l == first) {
        backend_.rms_norm(s.h, b.in_norm, eps, s.u);
      } else {
        backend_.add_rms_norm(s.h, s.out, b.in_norm, eps, s.u);
        if (hook) hook(l, s.h);
      }
      mixer(l, st, s, batch, S, past);
      if (c.mlp_size > 0) {  // h += mixer; h += MLP(RMSNorm(h))
        backend_.add_rms_norm(s.h, s.out, b.mlp_norm, eps, s.u);
        backend_.matmul(s.u, b.gate, s.gate);
        backend_.matmul(s.u, b.up, s.up);
        backend_.silu_mul(s.gate, s.up, s.gate);
        backend_.matmul(s.gate, b.down, s.out);
      }
    }
    if (first == c.num_layers) {
      backend_.rms_norm(s.h, norm_f_, eps, s.u);  // only the head: s.h is the final residual
    } else {
      backend_.add_rms_norm(s.h, s.out, norm_f_, eps, s.u);
      if (hook) hook(c.num_layers, s.h);
    }
    if (logits.empty()) return;
    const int64_t skip = S - T;  // meta rows at the front of each sequence
    if (skip == 0 || batch == 1) {
      backend_.matmul(s.u.slice_rows(skip, batch * T), lm_head_, logits);
      return;
    }
    const Tensor real = s.emb.slice_rows(0, batch * T);  // reused: [B·T, H]
    for (int64_t b = 0; b < batch; ++b)
      backend_.copy(s.u.slice_rows(b * S + skip, T), real.slice_rows(b * T, T));
    backend_.matmul(real, lm_head_, logits);
  }

  // The hybrid mixer of block l: s.u → s.out, advancing the block's states and caches.
  void mixer(int64_t l, HymbaState& st, HymbaScratch& s, int64_t batch, int64_t S, int64_t past) {
    const auto& c = config_;
    const HymbaBlock& b = blocks_[size_t(l)];
    const int64_t H = c.hidden_size, I = c.intermediate_size, N = c.state_size;
    const int64_t R = c.time_step_rank, nh = c.num_attention_heads, nkv = c.num_kv_heads;
    const int64_t hd = c.qk_head_dim, vhd = c.v_head_dim, kh = nkv * hd, vh = nkv * vhd;
    const int64_t xo = b.own_kv ? H + kh + vh : H;  // in_proj rows: [0, xo) q|k|v, then x, z
    const Tensor P = s.proj.slice_cols(0, xo);
    backend_.matmul(s.u, b.in_proj.slice_rows(0, xo), P);
    backend_.matmul(s.u, b.in_proj.slice_rows(xo, I), s.x);
    backend_.matmul(s.u, b.in_proj.slice_rows(xo + I, I), s.z);
    const Tensor q = P.slice_cols(0, H), x = s.x, z = s.z;

    // ---- attention branch
    if (c.rope) backend_.rope(q, inv_freq_, batch, S, past, nh, hd);
    if (b.own_kv) {
      const Tensor k = P.slice_cols(H, kh), v = P.slice_cols(H + kh, vh);
      if (c.rope) backend_.rope(k, inv_freq_, batch, S, past, nkv, hd);
      kv_write(backend_, st.kv[size_t(l)], k, v, batch, c.num_meta_tokens, past, S);
    }
    const KvCache& kv = st.kv[size_t(b.kv_layer)];
    AttentionArgs at;
    at.q = q;
    at.k_cache = kv.k;
    at.v_cache = kv.v;
    at.out = s.attn;
    at.batch = batch;
    at.seqlen = S;
    at.past = past;
    at.heads = nh;
    at.kv_heads = nkv;
    at.head_dim = hd;
    at.v_head_dim = vhd;
    at.window = b.global ? 0 : c.sliding_window;
    at.meta = c.num_meta_tokens;
    at.scale = 1.0f / std::sqrt(float(hd));
    backend_.attention(at);

    // ---- SSM branch (Mamba-1 scan with dt/B/C norms)
    Conv1dArgs conv{x, b.conv_w, b.conv_b, st.conv[size_t(l)], s.xc, batch, S, true};
    backend_.conv1d_causal(conv);
    backend_.matmul(s.xc, b.x_proj, s.dbc);
    const Tensor dtr = s.dbc.slice_cols(0, R), Bm = s.dbc.slice_cols(R, N),
                 Cm = s.dbc.slice_cols(R + N, N);
    const float eps = float(c.norm_eps);
    if (c.inner_layernorms) {  // in place: each row is read in full before it is written
      backend_.rms_norm(dtr, b.dt_norm, eps, dtr);
      backend_.rms_norm(Bm, b.B_norm, eps, Bm);
      backend_.rms_norm(Cm, b.C_norm, eps, Cm);
    }
    backend_.matmul(dtr, b.dt_proj, s.dt);
    SsmScanArgs scan;
    scan.u = s.xc;
    scan.delta = s.dt;
    scan.A = b.A;
    scan.B = Bm;
    scan.C = Cm;
    scan.D = b.D;
    scan.z = z;
    scan.state = st.ssm[size_t(l)];
    scan.out = s.y;
    scan.batch = batch;
    scan.seqlen = S;
    scan.delta_softplus = true;
    backend_.ssm_scan(scan);

    // ---- (β1·norm(attn) + β2·norm(ssm)) / 2, then out_proj
    backend_.rms_norm(s.attn, b.attn_norm, eps, s.attn);
    backend_.rms_norm(s.y, b.ssm_norm, eps, s.y);
    backend_.add(s.attn, s.y, s.attn);
    backend_.matmul(s.attn, b.out_proj, s.out);
  }

  HymbaScratch& scratch(int64_t rows) {
    if (rows <= scratch_.rows) {
      view_ = scratch_;
      view_.rows = rows;
      for (Tensor* t : {&view_.emb, &view_.h, &view_.u, &view_.out, &view_.proj, &view_.x, &view_.z,
                        &view_.attn, &view_.xc, &view_.dt, &view_.y, &view_.dbc, &view_.gate, &view_.up})
        if (!t->empty()) *t = t->slice_rows(0, rows);
      return view_;
    }
    const auto& c = config_;
    const int64_t H = c.hidden_size, I = c.intermediate_size, FF = c.mlp_size;
    int64_t proj = 0;
    for (int64_t l = 0; l < c.num_layers; ++l) proj = std::max(proj, c.in_proj_rows(l) - 2 * I);
    scratch_ = HymbaScratch{};
    scratch_.rows = rows;
    scratch_.ids = backend_.alloc(DType::I32, {rows});
    for (Tensor* t : {&scratch_.emb, &scratch_.h, &scratch_.u, &scratch_.out})
      *t = backend_.alloc(DType::F32, {rows, H});
    scratch_.proj = backend_.alloc(DType::F32, {rows, proj});
    for (Tensor* t :
         {&scratch_.x, &scratch_.z, &scratch_.attn, &scratch_.xc, &scratch_.dt, &scratch_.y})
      *t = backend_.alloc(DType::F32, {rows, I});
    scratch_.dbc = backend_.alloc(DType::F32, {rows, c.time_step_rank + 2 * c.state_size});
    if (FF > 0) {
      scratch_.gate = backend_.alloc(DType::F32, {rows, FF});
      scratch_.up = backend_.alloc(DType::F32, {rows, FF});
    }
    return scratch_;
  }

  void load(const WeightLoader& wl) {
    const auto& c = config_;
    const int64_t V = c.vocab_size, H = c.hidden_size, I = c.intermediate_size, FF = c.mlp_size;
    const int64_t N = c.state_size, K = c.conv_kernel, R = c.time_step_rank;
    const Tensor table = wl.stored("model.embed_tokens.weight", {V, H});
    if (c.num_meta_tokens > 0) meta_ = wl.f32("model.memory_tokens", {c.num_meta_tokens, H});
    kv_global_.assign(size_t(c.num_layers), false);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      const std::string m = p + "mamba.";
      HymbaBlock b;
      const int producer = c.kv_producer(l);
      b.own_kv = producer < 0;
      b.kv_layer = b.own_kv ? l : producer;
      b.global = c.is_global_attn(l);
      // A cache keeps every position when its layer or any layer reading it is global.
      if (b.global) kv_global_[size_t(b.kv_layer)] = true;
      b.in_norm = wl.f32(p + "input_layernorm.weight", {H});
      b.in_proj = wl.linear(m + "in_proj", c.in_proj_rows(l), H, c.use_bias);
      b.conv_w = wl.f32(m + "conv1d.weight", {I, 1, K}, {I, K});
      if (c.use_conv_bias) b.conv_b = wl.f32(m + "conv1d.bias", {I});
      b.x_proj = wl.linear(m + "x_proj.0", R + 2 * N, I, false);
      b.dt_proj = wl.linear(m + "dt_proj.0", I, R, true);
      b.A = load_A(wl, m + "A_log.0", I, N);
      b.D = wl.f32(m + "D.0", {I});
      if (c.inner_layernorms) {
        b.dt_norm = wl.f32(m + "dt_layernorm.weight", {R});
        b.B_norm = wl.f32(m + "B_layernorm.weight", {N});
        b.C_norm = wl.f32(m + "C_layernorm.weight", {N});
      }
      b.attn_norm = load_halved(wl, m + "pre_avg_layernorm1.weight", I);
      b.ssm_norm = load_halved(wl, m + "pre_avg_layernorm2.weight", I);
      b.out_proj = wl.linear(m + "out_proj", H, I, c.use_bias);
      if (FF > 0) {
        b.mlp_norm = wl.f32(p + "pre_moe_layernorm.weight", {H});
        b.gate = wl.linear(p + "moe.experts.0.gate_proj", FF, H, false);
        b.up = wl.linear(p + "moe.experts.0.up_proj", FF, H, false);
        b.down = wl.linear(p + "moe.experts.0.down_proj", H, FF, false);
      }
      blocks_.push_back(std::move(b));
    }
    norm_f_ = wl.f32("model.final_layernorm.weight", {H});
    // Tied: the checkpoint may or may not hold lm_head.weight; embed_tokens is used.
    if (c.tie_word_embeddings) {
      lm_head_.w = table;
    } else {
      embed_.w = table;
      lm_head_.w = wl.stored("lm_head.weight", {V, H});
    }
    inv_freq_ = make_inv_freq();
  }

  // inv_freq[k] = 1 / base'^(2k/hd) with the fp32 arithmetic of torch (specs/hymba.md §4.3,
  // A11): base' in double as Python computes it, then rounded to fp32; the exponent
  // arange(0, hd, 2).float() / hd and the pow and reciprocal in fp32.
  Tensor make_inv_freq() {
    const auto& c = config_;
    const int64_t hd = c.qk_head_dim;
    double base = c.rope_theta;
    if (c.rope_type == "ntk")
      base *= std::pow(2.0 * double(c.max_position_embeddings) / double(c.orig_max_position_embeddings) - 1.0,
                       double(hd) / double(hd - 2));
    std::vector<float> f(static_cast<size_t>(hd / 2));
    for (int64_t k = 0; k < hd / 2; ++k)
      f[size_t(k)] = 1.0f / std::pow(float(base), float(2 * k) / float(hd));
    Tensor t = backend_.alloc(DType::F32, {hd / 2});
    backend_.upload(t, f.data());
    return t;
  }

  // A = -exp(A_log), computed once in fp32 (A_log.float()).
  Tensor load_A(const WeightLoader& wl, const std::string& name, int64_t I, int64_t N) {
    std::vector<float> a = to_f32(wl.store().get(name, {I, N}));
    for (float& v : a) v = -std::exp(v);
    Tensor t = backend_.alloc(DType::F32, {I, N});
    backend_.upload(t, a.data());
    return t;
  }

  // A norm weight times 1/2: the branch average folded into β (×0.5 is exact in fp32).
  Tensor load_halved(const WeightLoader& wl, const std::string& name, int64_t n) {
    std::vector<float> w = to_f32(wl.store().get(name, {n}));
    for (float& v : w) v *= 0.5f;
    Tensor t = backend_.alloc(DType::F32, {n});
    backend_.upload(t, w.data());
    return t;
  }

  // The embedding the forward pass reads: a tied one is lm_head_ itself (one stored copy,
  // quantised with the head), an untied one embed_.
  const Weight& embedding() const { return config_.tie_word_embeddings ? lm_head_ : embed_; }

  Weight embed_;                 // [V, H] storage type; empty when tied
  Tensor meta_;                  // F32 [M, H] meta tokens, or empty
  std::vector<HymbaBlock> blocks_;
  std::vector<bool> kv_global_;  // per layer: its K/V cache must keep every position
  Tensor norm_f_;                // F32 [H]
  Weight lm_head_;               // [V, H]
  Tensor inv_freq_;              // F32 [hd/2]
  HymbaScratch scratch_, view_;
};

}  // namespace

std::unique_ptr<Model> load_hymba(const ModelConfig& config, const TensorStore& store,
                                  Backend& backend) {
  return std::make_unique<HymbaModel>(config, store, backend);
}

}  // namespace kllens
