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

#include <cmath>
#include <memory>
#include <string>
#include <string_view>

#include "kllens/error.h"
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
// Shapes, types, strides and overlaps of `a` (throws kllens::Error naming the op and the
// tensor); every backend calls it first. The same holds for validate() below.
void validate(const Conv1dArgs& a);

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
void validate(const SsmScanArgs& a);

// Mamba-2 SSD scan (specs/mamba.md §5), per sequence b, head h (P channels), state n:
//   Δ = clamp(softplus(dt[t,h] + dt_bias[h]), dt_min, dt_max)
//   H[h] ← exp(Δ·A[h]) · H[h] + (Δ · x[t,h,:]) ⊗ B[t,g(h),:]      H[h] ∈ R^{P×N}, fp32
//   y[t,h,:] = H[h] · C[t,g(h),:] + D[h] · x[t,h,:]
// with g(h) = h / (nh/G). Prefill may use the chunked SSD algorithm with `chunk` tokens
// per chunk (same result up to fp32 rounding); T = 1 is the decode step.
struct SsdScanArgs {
  Tensor x;        // [B*T, nh*P]   (may be strided)
  Tensor dt;       // [B*T, nh]     raw Δ from in_proj (may be strided)
  Tensor dt_bias;  // F32 [nh]
  Tensor A;        // F32 [nh] = -exp(A_log)
  Tensor B;        // [B*T, G*N]    (may be strided)
  Tensor C;        // [B*T, G*N]    (may be strided)
  Tensor D;        // F32 [nh], or empty
  Tensor state;    // F32 [B, nh, P, N], read and updated
  Tensor out;      // [B*T, nh*P]
  int64_t batch = 1, seqlen = 1;
  int64_t heads = 1, head_dim = 1, groups = 1, state_size = 1, chunk = 256;
  float dt_min = 0.f, dt_max = INFINITY;
};
void validate(const SsdScanArgs& a);

// Causal attention over a KV cache, grouped-query, optional sliding window with a
// prefix of always-visible (meta) positions. Query t of sequence b has absolute
// position past + t and sees key position j when
//   j ≤ past + t  and  (window == 0 or past + t − j ≤ window or j < meta).
// out[t, h] = softmax(q[t,h] · K[j, h/(nh/nkv)]ᵀ · scale) · V[j, h/(nh/nkv)].
// Keys and values live in caches of `capacity` slots; absolute position j sits in slot
//   j < meta ? j : meta + (j − meta) mod (capacity − meta)
// (the identity while capacity covers every position, a ring for sliding windows). The
// caller writes the new keys/values into their slots before the call and guarantees that
// every key a query may see is still in its slot.
struct AttentionArgs {
  Tensor q;        // [B*T, nh*hd]        (post-RoPE; may be strided)
  Tensor k_cache;  // F32 [B, capacity, nkv*hd]
  Tensor v_cache;  // F32 [B, capacity, nkv*vhd]
  Tensor out;      // [B*T, nh*vhd]
  int64_t batch = 1, seqlen = 1, past = 0;
  int64_t heads = 1, kv_heads = 1, head_dim = 1, v_head_dim = 1;
  int64_t window = 0, meta = 0;
  float scale = 1.f;
};
void validate(const AttentionArgs& a);

// Per-token comparison of a student's next-token distribution with a teacher's, in one
// pass over the vocabulary with online log-sum-exp (fp32 logits, fp32/fp64 sums):
// out[r, :] = { KL(p‖q), KL(q‖p), −log p[target], −log q[target], Σ(zs−zt)², Σ zt²,
//               argmax zs == argmax zt, −log q[target] + log p[target] }
// with p = softmax(teacher), q = softmax(student); targets < 0 contribute 0 to the CE
// columns.
inline constexpr int64_t kKlStats = 8;

// How matmul multiplies activations with quantised weights (Q8_C, Q4_C, Q8_0, Q4_0).
// F32 / F16 / BF16 weights are multiplied the same way in both modes.
//   exact  fp32 activations × the dequantised weights, summed in fp32: the paper's fake
//          quantisation, what the lens measures. The sensitivity sweep always uses it.
//   fast   deployment arithmetic, op `matmul_q8act` (src/cpu/matmul_q8act.h states it
//          exactly): each activation row is quantised on the fly to int8 per block of 32
//          along K (d = max|x|/127, the last block of a row whose K is not a multiple of
//          32 is shorter), each block's integer dot product with the INT8/INT4 weights is
//          summed exactly in int32, and the per-block scales are applied in fp32 in
//          ascending block order.
// The mode is part of the backend's state (set_matmul_mode), read by each matmul when it
// is enqueued or recorded; a graph replays the mode it was captured with.
enum class MatmulMode : uint8_t { exact, fast };
std::string_view matmul_mode_name(MatmulMode m);

// A recorded sequence of ops (Backend::begin_capture / end_capture), run again by
// Backend::replay without recording anything: "record once, replay per token". Every
// tensor the ops touched is bound as it was at capture (the graph keeps those buffers
// alive), so a replay sees the tensors' current contents. Uploads made while capturing
// become the graph's inputs, numbered in the order they were made: set_input gives input
// i new host bytes (the same count as at capture) for the next replays.
class Graph {
 public:
  virtual ~Graph() = default;
  virtual size_t inputs() const = 0;
  virtual size_t input_bytes(size_t i) const = 0;
  virtual void set_input(size_t i, const void* src) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual std::string name() const = 0;

  // The arithmetic of matmul on quantised weights for ops enqueued from now on (see
  // MatmulMode). A new backend is exact; the CLI sets fast unless --exact is given.
  void set_matmul_mode(MatmulMode m) { matmul_mode_ = m; }
  MatmulMode matmul_mode() const { return matmul_mode_; }

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
  // out[r,:] = table[ids[r],:] dequantised  table [V,H] in any weight type (a tied
  // embedding is the head's Weight), ids I32 [n], out [n,H]
  virtual void embed(const Weight& table, const Tensor& ids, const Tensor& out) = 0;
  // out[r,:] = w ⊙ x[r,:] / sqrt(mean(x[r,:]²) + eps)        x, out [n,H], w [H]
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) = 0;
  // residual += delta; out = rms_norm(residual): the boundary between pre-norm blocks.
  virtual void add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w,
                            float eps, const Tensor& out) = 0;
  // out[n,N] = x[n,K] · Wᵀ (+ bias). GEMV when n == 1, GEMM otherwise. Quantised weights
  // follow matmul_mode().
  virtual void matmul(const Tensor& x, const Weight& w, const Tensor& out) = 0;
  virtual void conv1d_causal(const Conv1dArgs& a) = 0;
  virtual void ssm_scan(const SsmScanArgs& a) = 0;
  // out = a + b (same shapes)
  virtual void add(const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // dst = src (same shapes; strided rows allowed on both sides)
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;

  // ---- ops of Mamba-2, Hymba and the lens --------------------------------------------
  // Backends that lack one of these throw kllens::Error naming the op and the backend.
  virtual void ssd_scan(const SsdScanArgs& a);
  // Mamba-2 gated RMSNorm (norm_before_gate = False), per group of `group_size` columns:
  //   v = y ⊙ silu(z);  out = w ⊙ v / sqrt(mean_group(v²) + eps)       y, z, out [n, I]
  virtual void rms_norm_gated(const Tensor& y, const Tensor& z, const Tensor& w,
                              int64_t group_size, float eps, const Tensor& out);
  // Rotary embedding in place (NeoX rotate-half: dim d pairs with d + hd/2) on each of the
  // `heads` heads of x [B*T, heads*hd]; token t of sequence b is at position past + t;
  // inv_freq F32 [hd/2].
  virtual void rope(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
                    int64_t past, int64_t heads, int64_t head_dim);
  virtual void attention(const AttentionArgs& a);
  // out = silu(gate) ⊙ up (SwiGLU)                               gate, up, out [n, F]
  virtual void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out);
  // See kKlStats. teacher, student [n, V]; targets I32 [n]; out F32 [n, kKlStats].
  virtual void kl_reduce(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                         const Tensor& out);
  // out[r] = first index of the maximum of logits[r, :]       logits [n, V], out I32 [n]
  virtual void argmax(const Tensor& logits, const Tensor& out);
  // A copy of the linear weight `src` (F32/F16/BF16) quantised to `type` (Q8_C, Q4_C,
  // Q8_0, Q4_0) with symmetric abs-max scales (src/quant), bias kept. The default
  // downloads, quantises on the host and uploads; a backend may do it on the device.
  virtual Weight quantize_weight(const Weight& src, DType type);

  // ---- sampling ------------------------------------------------------------------------
  // The k = values.cols() largest entries of each row, best first; equal values rank by the
  // lower index (as argmax), NaN ranks below every number.
  //   logits F32 [n, V] (strided rows), values F32 [n, k], indices I32 [n, k], 1 ≤ k ≤ V
  virtual void topk(const Tensor& logits, const Tensor& values, const Tensor& indices) {
    (void)logits, (void)values, (void)indices;
    throw Error("op topk is not implemented on the " + name() + " backend");
  }

  // ---- record once, replay (see Graph) ----------------------------------------------
  // Starts recording instead of running: until end_capture(), ops (and uploads, as graph
  // inputs) are recorded, nothing runs, and sync()/download() are errors. Returns false,
  // recording nothing, when the backend cannot capture; the caller then runs ops directly.
  virtual bool begin_capture() { return false; }
  // Ends the recording begun by a successful begin_capture().
  virtual std::unique_ptr<Graph> end_capture() {
    throw Error("end_capture: the " + name() + " backend does not capture");
  }
  // Runs the graph after everything enqueued so far, in stream order (sync() waits for it).
  virtual void replay(Graph& graph) {
    (void)graph;
    throw Error("replay: the " + name() + " backend does not capture");
  }

 private:
  MatmulMode matmul_mode_ = MatmulMode::exact;
};

// The CPU kernels' tier: the plain scalar reference (the truth every other tier and the
// Vulkan kernels are checked against), AVX2+FMA+F16C with OpenMP, or avx512: the packed
// fast matmul on AVX-512 VNNI (vpdpbusd) and the decode scan (N = 16) on 16-lane vectors,
// every other op as avx2.
enum class CpuTier { reference, avx2, avx512 };
const char* cpu_tier_name(CpuTier tier);  // "reference", "avx2", "avx512"
bool cpu_tier_supported(CpuTier tier);    // this CPU runs it
// The fastest tier this CPU runs, or a slower one where the environment variable
// KLLENS_CPU_TIER (reference, avx2, avx512) names one: a cap, for same-machine A/B
// timings and for running a slower tier's code on a faster CPU. Throws on any other value.
CpuTier best_cpu_tier();

// The CPU backend running every op on `tier` (throws if this CPU lacks it). Never null.
// Its name() is "cpu" for the fastest tier and "cpu-<tier>" for any other.
std::unique_ptr<Backend> make_cpu_backend(CpuTier tier);

}  // namespace kllens
