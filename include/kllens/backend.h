// The backend interface: device memory, transfers, and the op set every model is written
// against.
//
// Execution model: a stream. Ops are enqueued in order and may run later; sync() waits
// for everything enqueued so far. The CPU backend runs each op at once; the Vulkan
// backend records dispatches into a command buffer and submits in large batches.
// upload() copies the host bytes before it returns (the caller may free them at once);
// download() waits for every enqueued op, then copies.
//
// All activations are F32. A sequence batch is laid out row-major as [B*T, C]: row
// b*T + t holds token t of sequence b. Inputs may be strided column slices (see
// Tensor::slice_cols); outputs are written row by row with their own stride.
// Weights keep their storage type (F32, F16, BF16, Q8_C, Q4_C, Q8_0, Q4_0) and are
// converted inside the kernels that read them.
#pragma once

#include <memory>
#include <string>

#include "kllens/tensor.h"

namespace kllens {

// Causal depthwise conv1d over time with carried state, as Mamba's conv1d:
//   out[b,t,c] = act( bias[c] + Σ_{k<K} w[c,k] · xin[b, t-K+1+k, c] )
// where xin is the concatenation [state (K-1 previous inputs) | x]. Afterwards state
// holds the last K-1 entries of xin. A fresh sequence starts from a zero state.
struct Conv1dArgs {
  Tensor x;       // [B*T, C] pre-conv inputs (may be strided)
  Tensor weight;  // F32 [C, K]
  Tensor bias;    // F32 [C], or empty
  Tensor state;   // F32 [B, K-1, C], read and updated
  Tensor out;     // F32 [B*T, C]
  int64_t batch = 1, seqlen = 1;
  bool silu = true;
};

// Mamba-1 selective scan (also Hymba's SSM branch), per sequence b, channel i, state n:
//   Δ = softplus(delta[t,i]) if delta_softplus else delta[t,i]
//   h[i,n] ← exp(Δ·A[i,n]) · h[i,n] + Δ · B[t,n] · u[t,i]
//   y[t,i] = Σ_n h[i,n] · C[t,n] + D[i] · u[t,i];  out = y · silu(z[t,i]) if z given
// state h starts from `state` and is left there after the last token.
struct SsmScanArgs {
  Tensor u;       // [B*T, I]   (conv output)
  Tensor delta;   // [B*T, I]   (dt_proj output incl. bias)
  Tensor A;       // F32 [I, N] = -exp(A_log)
  Tensor B;       // [B*T, N]   (may be strided)
  Tensor C;       // [B*T, N]   (may be strided)
  Tensor D;       // F32 [I], or empty
  Tensor z;       // [B*T, I] gate, or empty
  Tensor state;   // F32 [B, I, N], read and updated
  Tensor out;     // [B*T, I]
  int64_t batch = 1, seqlen = 1;
  bool delta_softplus = true;
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual std::string name() const = 0;

  // ---- memory -------------------------------------------------------------------------
  // A new contiguous tensor, contents undefined. Rows of quantised types are row_bytes apart.
  virtual Tensor alloc(DType dtype, const Shape& shape) = 0;
  // Copies span_bytes() of host bytes into a contiguous tensor.
  virtual void upload(const Tensor& dst, const void* src) = 0;
  // Waits for enqueued work, then copies a tensor (contiguous or strided rows) to host,
  // rows packed.
  virtual void download(const Tensor& src, void* dst) = 0;
  // A weight tensor holding `data` (host bytes that `owner` keeps alive, e.g. a file
  // mapping). The default copies into a new tensor; the CPU backend borrows the bytes.
  virtual Tensor import_host(std::shared_ptr<const void> owner, const void* data, DType dtype,
                             const Shape& shape);
  virtual void fill_zero(const Tensor& t) = 0;
  virtual void sync() = 0;

  // ---- ops (F32 activations) ----------------------------------------------------------
  // out[r,:] = table[ids[r],:]            table [V,H] (F32/F16/BF16), ids I32 [n], out [n,H]
  virtual void embed(const Tensor& table, const Tensor& ids, const Tensor& out) = 0;
  // out[r,:] = w ⊙ x[r,:] / sqrt(mean(x[r,:]²) + eps)        x, out [n,H], w [H]
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) = 0;
  // residual += delta; out = rms_norm(residual): the boundary between pre-norm blocks.
  virtual void add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w,
                            float eps, const Tensor& out) = 0;
  // out[n,N] = x[n,K] · Wᵀ (+ bias). GEMV when n == 1, GEMM otherwise.
  virtual void matmul(const Tensor& x, const Weight& w, const Tensor& out) = 0;
  virtual void conv1d_causal(const Conv1dArgs& a) = 0;
  virtual void ssm_scan(const SsmScanArgs& a) = 0;
  // out = a + b (same shapes)
  virtual void add(const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // dst = src (same shapes; strided rows allowed on both sides)
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
};

// The CPU reference backend (AVX2+FMA+F16C with OpenMP where the CPU has them, scalar
// otherwise). Never null.
std::unique_ptr<Backend> make_cpu_backend();

}  // namespace kllens
