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
// The embedding, the norms, the head and the walk over the blocks are SsmStackModel's.
#include "models/mamba2.h"

#include "models/ssm_stack.h"

namespace kllens {
namespace {

struct Mamba2Block {
  Weight in_proj;   // [I + conv_dim + nh, H]
  Tensor conv_w;    // F32 [conv_dim, K]
  Tensor conv_b;    // F32 [conv_dim] or empty
  Tensor dt_bias;   // F32 [nh]
  Tensor A;         // F32 [nh] = -exp(A_log)
  Tensor D;         // F32 [nh]
  Tensor gnorm;     // F32 [I] gated-norm weight
  Weight out_proj;  // [H, I]
};

class Mamba2Model : public SsmStackModel {
 public:
  Mamba2Model(const ModelConfig& cfg, const TensorStore& store, Backend& be)
      : SsmStackModel(cfg, be),
        zxbcdt_(DType::F32, cfg.in_proj_rows(0)),
        xbc_(DType::F32, cfg.conv_dim()),
        y_(DType::F32, cfg.intermediate_size) {
    load(WeightLoader(store, be));
  }

  std::vector<LinearLayer> block_layers() override {
    std::vector<LinearLayer> out;
    for (size_t l = 0; l < blocks_.size(); ++l) {
      const std::string p = "backbone.layers." + std::to_string(l) + ".mixer.";
      out.push_back({p + "in_proj", &blocks_[l].in_proj, int64_t(l)});
      out.push_back({p + "out_proj", &blocks_[l].out_proj, int64_t(l)});
    }
    return out;
  }

 private:
  Shape conv_state_shape(int64_t batch) const override {
    return {batch, config_.conv_kernel - 1, config_.conv_dim()};
  }
  Shape ssm_state_shape(int64_t batch) const override {
    return {batch, config_.num_heads, config_.head_dim, config_.state_size};
  }

  // The Mamba-2 mixer of block l: u → out, advancing the block's states.
  void mixer(int64_t l, const Tensor& u, const Tensor& out, const Tensor& conv_state,
             const Tensor& ssm_state, int64_t batch, int64_t seqlen) override {
    const auto& c = config_;
    const Mamba2Block& b = blocks_[size_t(l)];
    const int64_t I = c.intermediate_size, GN = c.n_groups * c.state_size, cd = c.conv_dim();
    const int64_t rows = batch * seqlen;
    const Tensor &zxbcdt = zxbcdt_.rows(backend_, rows), &xbc = xbc_.rows(backend_, rows),
                 &y = y_.rows(backend_, rows);
    backend_.matmul(u, b.in_proj, zxbcdt);
    const Tensor z = zxbcdt.slice_cols(0, I);

    Conv1dArgs conv{zxbcdt.slice_cols(I, cd), b.conv_w, b.conv_b, conv_state, xbc,
                    batch, seqlen, true};
    backend_.conv1d_causal(conv);

    SsdScanArgs scan;
    scan.x = xbc.slice_cols(0, I);
    scan.dt = zxbcdt.slice_cols(I + cd, c.num_heads);
    scan.dt_bias = b.dt_bias;
    scan.A = b.A;
    scan.B = xbc.slice_cols(I, GN);
    scan.C = xbc.slice_cols(I + GN, GN);
    scan.D = b.D;
    scan.state = ssm_state;
    scan.out = y;
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

    backend_.rms_norm_gated(y, z, b.gnorm, I / c.n_groups, float(c.norm_eps), y);
    backend_.matmul(y, b.out_proj, out);
  }

  void load(const WeightLoader& wl) {
    load_stack(wl);
    const auto& c = config_;
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const int64_t K = c.conv_kernel, nh = c.num_heads, cd = c.conv_dim();
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string m = "backbone.layers." + std::to_string(l) + ".mixer.";
      Mamba2Block b;
      b.in_proj = wl.linear(m + "in_proj", c.in_proj_rows(l), H, c.use_bias);
      b.conv_w = wl.f32(m + "conv1d.weight", {cd, 1, K}, {cd, K});
      if (c.use_conv_bias) b.conv_b = wl.f32(m + "conv1d.bias", {cd});
      b.dt_bias = wl.f32(m + "dt_bias", {nh});
      b.A = load_A(wl, m + "A_log", {nh});
      b.D = wl.f32(m + "D", {nh});
      b.gnorm = wl.f32(m + "norm.weight", {I});
      b.out_proj = wl.linear(m + "out_proj", H, I, c.use_bias);
      blocks_.push_back(std::move(b));
    }
  }

  std::vector<Mamba2Block> blocks_;
  RowBuffer zxbcdt_, xbc_, y_;  // [rows, I + conv_dim + nh], [rows, conv_dim], [rows, I]
};

}  // namespace

std::unique_ptr<Model> load_mamba2(const ModelConfig& config, const TensorStore& store,
                                   Backend& backend) {
  return std::make_unique<Mamba2Model>(config, store, backend);
}

}  // namespace kllens
