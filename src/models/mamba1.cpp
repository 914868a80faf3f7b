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
// The embedding, the norms, the head and the walk over the blocks are SsmStackModel's.
#include "models/mamba1.h"

#include "models/ssm_stack.h"

namespace kllens {
namespace {

struct Mamba1Block {
  Weight in_proj;   // [2I, H]
  Tensor conv_w;    // F32 [I, K]
  Tensor conv_b;    // F32 [I] or empty
  Weight x_proj;    // [R+2N, I]
  Weight dt_proj;   // [I, R] with bias [I]
  Tensor A;         // F32 [I, N] = -exp(A_log)
  Tensor D;         // F32 [I]
  Weight out_proj;  // [H, I]
};

class Mamba1Model : public SsmStackModel {
 public:
  Mamba1Model(const ModelConfig& cfg, const TensorStore& store, Backend& be)
      : SsmStackModel(cfg, be),
        xz_(DType::F32, 2 * cfg.intermediate_size),
        xc_(DType::F32, cfg.intermediate_size),
        xdbc_(DType::F32, cfg.time_step_rank + 2 * cfg.state_size),
        dt_(DType::F32, cfg.intermediate_size),
        y_(DType::F32, cfg.intermediate_size) {
    load(WeightLoader(store, be));
  }

  std::vector<LinearLayer> block_layers() override {
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
  Shape conv_state_shape(int64_t batch) const override {
    return {batch, config_.conv_kernel - 1, config_.intermediate_size};
  }
  Shape ssm_state_shape(int64_t batch) const override {
    return {batch, config_.intermediate_size, config_.state_size};
  }

  // The Mamba-1 mixer of block l: u → out, advancing the block's states.
  void mixer(int64_t l, const Tensor& u, const Tensor& out, const Tensor& conv_state,
             const Tensor& ssm_state, int64_t batch, int64_t seqlen) override {
    const auto& c = config_;
    const Mamba1Block& b = blocks_[size_t(l)];
    const int64_t I = c.intermediate_size, N = c.state_size, R = c.time_step_rank;
    const int64_t rows = batch * seqlen;
    const Tensor &xz = xz_.rows(backend_, rows), &xc = xc_.rows(backend_, rows),
                 &xdbc = xdbc_.rows(backend_, rows), &dt = dt_.rows(backend_, rows),
                 &y = y_.rows(backend_, rows);
    backend_.matmul(u, b.in_proj, xz);
    const Tensor x = xz.slice_cols(0, I), z = xz.slice_cols(I, I);

    Conv1dArgs conv{x, b.conv_w, b.conv_b, conv_state, xc, batch, seqlen, true};
    backend_.conv1d_causal(conv);

    backend_.matmul(xc, b.x_proj, xdbc);
    backend_.matmul(xdbc.slice_cols(0, R), b.dt_proj, dt);

    SsmScanArgs scan;
    scan.u = xc;
    scan.delta = dt;
    scan.A = b.A;
    scan.B = xdbc.slice_cols(R, N);
    scan.C = xdbc.slice_cols(R + N, N);
    scan.D = b.D;
    scan.z = z;
    scan.state = ssm_state;
    scan.out = y;
    scan.batch = batch;
    scan.seqlen = seqlen;
    scan.delta_softplus = true;
    backend_.ssm_scan(scan);

    backend_.matmul(y, b.out_proj, out);
  }

  void load(const WeightLoader& wl) {
    load_stack(wl);
    const auto& c = config_;
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const int64_t N = c.state_size, K = c.conv_kernel, R = c.time_step_rank;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string m = "backbone.layers." + std::to_string(l) + ".mixer.";
      Mamba1Block b;
      b.in_proj = wl.linear(m + "in_proj", 2 * I, H, c.use_bias);
      b.conv_w = wl.f32(m + "conv1d.weight", {I, 1, K}, {I, K});
      if (c.use_conv_bias) b.conv_b = wl.f32(m + "conv1d.bias", {I});
      b.x_proj = wl.linear(m + "x_proj", R + 2 * N, I, false);
      b.dt_proj = wl.linear(m + "dt_proj", I, R, true);
      b.A = load_A(wl, m + "A_log", {I, N});
      b.D = wl.f32(m + "D", {I});
      b.out_proj = wl.linear(m + "out_proj", H, I, c.use_bias);
      blocks_.push_back(std::move(b));
    }
  }

  std::vector<Mamba1Block> blocks_;
  RowBuffer xz_, xc_, xdbc_, dt_, y_;  // [rows, 2I], [rows, I], [rows, R+2N], [rows, I], [rows, I]
};

}  // namespace

std::unique_ptr<Model> load_mamba1(const ModelConfig& config, const TensorStore& store,
                                   Backend& backend) {
  return std::make_unique<Mamba1Model>(config, store, backend);
}

}  // namespace kllens
