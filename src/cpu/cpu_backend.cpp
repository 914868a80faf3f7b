// The CPU backend: host memory, immediate execution, and the shape/dtype checks of every
// op before it reaches a kernel (kernels in src/cpu/<op>.h trust their arguments).
//
// Buffers are 64-byte-aligned host allocations; import_host borrows the caller's bytes
// (a file mapping, say) without copying. Ops run when called, so sync() has nothing to
// wait for.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/add.h"
#include "cpu/argmax.h"
#include "cpu/attention.h"
#include "cpu/conv1d_causal.h"
#include "cpu/copy.h"
#include "cpu/embed.h"
#include "cpu/kl_reduce.h"
#include "cpu/matmul.h"
#include "cpu/matmul_q8act.h"
#include "cpu/rms_norm.h"
#include "cpu/rms_norm_gated.h"
#include "cpu/rope.h"
#include "cpu/silu_mul.h"
#include "cpu/ssd_scan.h"
#include "cpu/ssm_scan.h"
#include "cpu/topk.h"
#include "kllens/backend.h"
#include "kllens/error.h"
#include "kllens/quant.h"

namespace kllens {

namespace {

// ---- buffers -------------------------------------------------------------------------

// Owns a 64-byte-aligned host allocation.
class CpuBuffer final : public Buffer {
 public:
  explicit CpuBuffer(size_t bytes) : Buffer(bytes, allocate(bytes)) {}
  ~CpuBuffer() override { std::free(host_); }
  CpuBuffer(const CpuBuffer&) = delete;
  CpuBuffer& operator=(const CpuBuffer&) = delete;

 private:
  static void* allocate(size_t bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded ? rounded : 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
};

// Borrows host bytes kept alive by `owner` (shared with whoever mapped them).
class BorrowedBuffer final : public Buffer {
 public:
  BorrowedBuffer(size_t bytes, const void* data, std::shared_ptr<const void> owner)
      : Buffer(bytes, const_cast<void*>(data)), owner_(std::move(owner)) {}

 private:
  std::shared_ptr<const void> owner_;  // owned reference: keeps the bytes alive
};

// ---- argument checks -----------------------------------------------------------------

bool host_ok(const Tensor& t) { return t.buf && t.buf->host(); }

// A host F32 tensor of `rows` × `cols` (rows may be strided).
void check_f32(const char* op, const char* name, const Tensor& t, int64_t rows, int64_t cols) {
  KL_CHECK(!t.empty() && host_ok(t), "{}: {} is missing or not host memory", op, name);
  KL_CHECK(t.dtype == DType::F32, "{}: {} must be F32, got {}", op, name, dtype_name(t.dtype));
  KL_CHECK(t.rows() == rows && t.cols() == cols, "{}: {} has shape {}, expected {} rows × {} cols",
           op, name, shape_str(t.shape), rows, cols);
  KL_CHECK(t.row_stride >= t.cols(), "{}: {} row stride {} < {} columns", op, name, t.row_stride,
           t.cols());
  KL_CHECK(t.offset + t.span_bytes() <= t.buf->bytes(), "{}: {} runs past its buffer", op, name);
}

// An F32 vector of n elements, or nothing when `optional` and empty.
void check_vec(const char* op, const char* name, const Tensor& t, int64_t n, bool optional) {
  if (optional && t.empty()) return;
  check_f32(op, name, t, 1, n);
}

bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.buf != b.buf) return false;
  return a.offset < b.offset + b.span_bytes() && b.offset < a.offset + a.span_bytes();
}

// ---- the backend ---------------------------------------------------------------------

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }

  Tensor alloc(DType dtype, const Shape& shape) override {
    for (int64_t d : shape) KL_CHECK(d >= 0, "alloc: negative dimension in {}", shape_str(shape));
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    t.row_stride = t.cols();
    t.buf = std::make_shared<CpuBuffer>(size_t(t.rows()) * t.row_bytes());
    return t;
  }

  void upload(const Tensor& dst, const void* src) override {
    KL_CHECK(host_ok(dst) && dst.contiguous(), "upload: destination must be a contiguous tensor");
    std::memcpy(dst.host_ptr(), src, dst.span_bytes());
  }

  void download(const Tensor& src, void* dst) override {
    KL_CHECK(host_ok(src), "download: source is not host memory");
    const size_t rb = src.row_bytes();
    if (src.contiguous() || dtype_is_quantized(src.dtype)) {
      std::memcpy(dst, src.host_ptr(), src.span_bytes());
      return;
    }
    const size_t step = size_t(src.row_stride) * dtype_size(src.dtype);
    const auto* s = src.data<uint8_t>();
    for (int64_t r = 0; r < src.rows(); ++r)
      std::memcpy(static_cast<uint8_t*>(dst) + size_t(r) * rb, s + size_t(r) * step, rb);
  }

  Tensor import_host(std::shared_ptr<const void> owner, const void* data, DType dtype,
                     const Shape& shape) override {
    KL_CHECK(data != nullptr, "import_host: null data");
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    t.row_stride = t.cols();
    t.buf = std::make_shared<BorrowedBuffer>(size_t(t.rows()) * t.row_bytes(), data,
                                             std::move(owner));
    return t;
  }

  void fill_zero(const Tensor& t) override {
    KL_CHECK(host_ok(t), "fill_zero: tensor is not host memory");
    cpu::fill_zero(t);
  }

  void sync() override {}

  void embed(const Weight& table, const Tensor& ids, const Tensor& out) override {
    KL_CHECK(host_ok(table.w) && table.w.shape.size() == 2, "embed: table must be a [V, H] tensor");
    KL_CHECK(table.w.dtype != DType::I32 && table.w.dtype != DType::I64,
             "embed: table dtype {} is not a weight type", dtype_name(table.w.dtype));
    KL_CHECK(table.w.contiguous() || dtype_is_quantized(table.w.dtype), "embed: table must be contiguous");
    if (table.w.dtype == DType::Q8_C || table.w.dtype == DType::Q4_C)
      check_vec("embed", "scale", table.scale, table.out_features(), false);
    KL_CHECK(host_ok(ids) && ids.dtype == DType::I32 && ids.contiguous(),
             "embed: ids must be a contiguous I32 tensor");
    check_f32("embed", "out", out, ids.numel(), table.in_features());
    cpu::embed(table, ids, out);
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override {
    check_f32("rms_norm", "x", x, x.rows(), x.cols());
    check_vec("rms_norm", "w", w, x.cols(), false);
    check_f32("rms_norm", "out", out, x.rows(), x.cols());
    KL_CHECK(eps >= 0.0f, "rms_norm: eps {} < 0", eps);
    cpu::rms_norm(x, w, eps, out);
  }

  void add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                    const Tensor& out) override {
    const int64_t n = residual.rows(), H = residual.cols();
    check_f32("add_rms_norm", "residual", residual, n, H);
    check_f32("add_rms_norm", "delta", delta, n, H);
    check_vec("add_rms_norm", "w", w, H, false);
    check_f32("add_rms_norm", "out", out, n, H);
    KL_CHECK(eps >= 0.0f, "add_rms_norm: eps {} < 0", eps);
    cpu::add_rms_norm(residual, delta, w, eps, out);
  }

  void matmul(const Tensor& x, const Weight& w, const Tensor& out) override {
    const Tensor& W = w.w;
    KL_CHECK(host_ok(W) && W.shape.size() == 2, "matmul: weight must be a [N, K] tensor");
    KL_CHECK(W.dtype != DType::I32 && W.dtype != DType::I64, "matmul: weight dtype {}",
             dtype_name(W.dtype));
    KL_CHECK(dtype_is_quantized(W.dtype) || W.contiguous(), "matmul: weight must be contiguous");
    const int64_t N = W.shape[0], K = W.shape[1];
    check_f32("matmul", "x", x, x.rows(), K);
    check_f32("matmul", "out", out, x.rows(), N);
    const bool per_row = W.dtype == DType::Q8_C || W.dtype == DType::Q4_C;
    KL_CHECK(per_row != w.scale.empty(), "matmul: a scale [N] is required for Q8_C/Q4_C "
             "weights and only for them (weight {})", dtype_name(W.dtype));
    check_vec("matmul", "scale", w.scale, N, true);
    check_vec("matmul", "bias", w.bias, N, true);
    KL_CHECK(!overlaps(out, x), "matmul: out overlaps x");
    if (matmul_mode() == MatmulMode::fast && cpu::matmul_q8act_supports(W.dtype))
      return cpu::matmul_q8act(x, w, out);
    cpu::matmul(x, w, out);
  }

  void conv1d_causal(const Conv1dArgs& a) override {
    KL_CHECK(a.batch >= 1 && a.seqlen >= 1, "conv1d_causal: batch {} seqlen {}", a.batch,
             a.seqlen);
    const int64_t C = a.x.cols(), K = a.weight.cols();
    check_f32("conv1d_causal", "x", a.x, a.batch * a.seqlen, C);
    check_f32("conv1d_causal", "weight", a.weight, C, K);
    KL_CHECK(a.weight.contiguous() && K >= 1, "conv1d_causal: weight must be a contiguous [C, K]");
    check_vec("conv1d_causal", "bias", a.bias, C, true);
    check_f32("conv1d_causal", "state", a.state, a.batch * (K - 1), C);
    check_f32("conv1d_causal", "out", a.out, a.batch * a.seqlen, C);
    KL_CHECK(!overlaps(a.out, a.x) && !overlaps(a.out, a.state) && !overlaps(a.x, a.state),
             "conv1d_causal: x, state and out must not overlap");
    cpu::conv1d_causal(a);
  }

  void ssm_scan(const SsmScanArgs& a) override {
    KL_CHECK(a.batch >= 1 && a.seqlen >= 1, "ssm_scan: batch {} seqlen {}", a.batch, a.seqlen);
    const int64_t rows = a.batch * a.seqlen, I = a.u.cols(), N = a.A.cols();
    check_f32("ssm_scan", "u", a.u, rows, I);
    check_f32("ssm_scan", "delta", a.delta, rows, I);
    check_f32("ssm_scan", "A", a.A, I, N);
    check_f32("ssm_scan", "B", a.B, rows, N);
    check_f32("ssm_scan", "C", a.C, rows, N);
    check_vec("ssm_scan", "D", a.D, I, true);
    if (!a.z.empty()) check_f32("ssm_scan", "z", a.z, rows, I);
    check_f32("ssm_scan", "state", a.state, a.batch * I, N);
    check_f32("ssm_scan", "out", a.out, rows, I);
    // out may alias u, delta or z exactly (each element is read before it is written),
    // but not B, C or the state, which later tokens and channels still read.
    KL_CHECK(!overlaps(a.out, a.B) && !overlaps(a.out, a.C) && !overlaps(a.out, a.state),
             "ssm_scan: out overlaps B, C or state");
    cpu::ssm_scan(a);
  }

  void add(const Tensor& a, const Tensor& b, const Tensor& out) override {
    check_f32("add", "a", a, a.rows(), a.cols());
    check_f32("add", "b", b, a.rows(), a.cols());
    check_f32("add", "out", out, a.rows(), a.cols());
    cpu::add(a, b, out);
  }

  void copy(const Tensor& src, const Tensor& dst) override {
    KL_CHECK(host_ok(src) && host_ok(dst), "copy: tensors must be host memory");
    KL_CHECK(src.dtype == dst.dtype, "copy: dtype {} to {}", dtype_name(src.dtype),
             dtype_name(dst.dtype));
    KL_CHECK(src.rows() == dst.rows() && src.cols() == dst.cols(), "copy: shape {} to {}",
             shape_str(src.shape), shape_str(dst.shape));
    cpu::copy(src, dst);
  }

  // ---- the lens (cpu/kl_reduce.h, cpu/argmax.h, src/quant) ------------------------------
  void kl_reduce(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                 const Tensor& out) override {
    const int64_t n = teacher.rows(), V = teacher.cols();
    KL_CHECK(V >= 1, "kl_reduce: empty vocabulary");
    check_f32("kl_reduce", "teacher", teacher, n, V);
    check_f32("kl_reduce", "student", student, n, V);
    KL_CHECK(host_ok(targets) && targets.dtype == DType::I32 && targets.contiguous() &&
                 targets.numel() == n,
             "kl_reduce: targets must be a contiguous I32 [{}]", n);
    for (int64_t r = 0; r < n; ++r)
      KL_CHECK(targets.data<int32_t>()[r] < V, "kl_reduce: target {} outside [0, {})",
               targets.data<int32_t>()[r], V);
    check_f32("kl_reduce", "out", out, n, kKlStats);
    cpu::kl_reduce(teacher, student, targets, out);
  }

  void argmax(const Tensor& logits, const Tensor& out) override {
    check_f32("argmax", "logits", logits, logits.rows(), logits.cols());
    KL_CHECK(logits.cols() >= 1, "argmax: empty rows");
    KL_CHECK(host_ok(out) && out.dtype == DType::I32 && out.contiguous() &&
                 out.numel() == logits.rows(),
             "argmax: out must be a contiguous I32 [{}]", logits.rows());
    cpu::argmax(logits, out);
  }

  void topk(const Tensor& logits, const Tensor& values, const Tensor& indices) override {
    const int64_t n = logits.rows(), V = logits.cols(), k = values.cols();
    check_f32("topk", "logits", logits, n, V);
    KL_CHECK(k >= 1 && k <= V, "topk: k = {} outside [1, {}]", k, V);
    check_f32("topk", "values", values, n, k);
    KL_CHECK(values.contiguous(), "topk: values must be contiguous");
    KL_CHECK(host_ok(indices) && indices.dtype == DType::I32 && indices.contiguous() &&
                 indices.numel() == n * k,
             "topk: indices must be a contiguous I32 [{}, {}]", n, k);
    cpu::topk(logits, values, indices);
  }

  // Quantises straight from host memory, rows split across threads; F16/BF16 sources take
  // the default (convert on the host) path.
  Weight quantize_weight(const Weight& src, DType type) override {
    const QuantSpec spec = QuantSpec::from_dtype(type);
    const Tensor& W = src.w;
    KL_CHECK(host_ok(W) && W.shape.size() == 2, "quantize_weight: weight must be a [N, K] tensor");
    if (W.dtype != DType::F32 || !W.contiguous()) return Backend::quantize_weight(src, type);
    const int64_t N = W.shape[0], K = W.shape[1];
    Weight out;
    out.w = alloc(type, {N, K});
    if (spec.group == 0) out.scale = alloc(DType::F32, {N});
    float* scale = spec.group == 0 ? out.scale.data<float>() : nullptr;
    const float* w = W.data<float>();
    uint8_t* dst = out.w.data<uint8_t>();
    const int64_t chunk = 16;
#pragma omp parallel for schedule(static) if (N * K > (1 << 16))
    for (int64_t r0 = 0; r0 < N; r0 += chunk)
      quantize_rows(w, K, K, r0, std::min(N, r0 + chunk), spec, dst, scale);
    out.bias = src.bias;
    return out;
  }

  // ---- Mamba-2 and Hymba (cpu/ssd_scan.h, rms_norm_gated.h, rope.h, attention.h, silu_mul.h)
  void ssd_scan(const SsdScanArgs& a) override {
    KL_CHECK(a.batch >= 1 && a.seqlen >= 1 && a.chunk >= 1, "ssd_scan: batch {} seqlen {} chunk {}",
             a.batch, a.seqlen, a.chunk);
    KL_CHECK(a.heads >= 1 && a.head_dim >= 1 && a.groups >= 1 && a.state_size >= 1 &&
                 a.heads % a.groups == 0,
             "ssd_scan: heads {} head_dim {} groups {} state {}", a.heads, a.head_dim, a.groups,
             a.state_size);
    KL_CHECK(a.dt_min >= 0.0f && a.dt_min <= a.dt_max, "ssd_scan: Δ limits [{}, {}]", a.dt_min,
             a.dt_max);
    const int64_t rows = a.batch * a.seqlen, I = a.heads * a.head_dim;
    const int64_t GN = a.groups * a.state_size;
    check_f32("ssd_scan", "x", a.x, rows, I);
    check_f32("ssd_scan", "dt", a.dt, rows, a.heads);
    check_vec("ssd_scan", "dt_bias", a.dt_bias, a.heads, false);
    check_vec("ssd_scan", "A", a.A, a.heads, false);
    check_f32("ssd_scan", "B", a.B, rows, GN);
    check_f32("ssd_scan", "C", a.C, rows, GN);
    check_vec("ssd_scan", "D", a.D, a.heads, true);
    check_f32("ssd_scan", "state", a.state, a.batch * I, a.state_size);
    check_f32("ssd_scan", "out", a.out, rows, I);
    // out may alias x exactly (each token's x is read before its out is written) but no
    // other input, which later tokens still read.
    for (const Tensor* t : {&a.dt, &a.B, &a.C, &a.state})
      KL_CHECK(!overlaps(a.out, *t), "ssd_scan: out overlaps dt, B, C or state");
    KL_CHECK(!overlaps(a.out, a.x) || (a.out.buf == a.x.buf && a.out.offset == a.x.offset &&
                                      a.out.row_stride == a.x.row_stride),
             "ssd_scan: out overlaps x without aliasing it exactly");
    cpu::ssd_scan(a);
  }

  void rms_norm_gated(const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                      float eps, const Tensor& out) override {
    const int64_t n = y.rows(), I = y.cols();
    check_f32("rms_norm_gated", "y", y, n, I);
    check_f32("rms_norm_gated", "z", z, n, I);
    check_vec("rms_norm_gated", "w", w, I, false);
    check_f32("rms_norm_gated", "out", out, n, I);
    KL_CHECK(group_size >= 1 && I % group_size == 0,
             "rms_norm_gated: group size {} does not divide {} columns", group_size, I);
    KL_CHECK(eps >= 0.0f, "rms_norm_gated: eps {} < 0", eps);
    KL_CHECK(!overlaps(out, z) || (out.buf == z.buf && out.offset == z.offset),
             "rms_norm_gated: out overlaps z");
    cpu::rms_norm_gated(y, z, w, group_size, eps, out);
  }

  void rope(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen, int64_t past,
            int64_t heads, int64_t head_dim) override {
    KL_CHECK(batch >= 1 && seqlen >= 1 && past >= 0, "rope: batch {} seqlen {} past {}", batch,
             seqlen, past);
    KL_CHECK(heads >= 1 && head_dim >= 2 && head_dim % 2 == 0, "rope: heads {} head_dim {}",
             heads, head_dim);
    KL_CHECK(past + seqlen <= (int64_t(1) << 24),
             "rope: position {} is not exact in fp32", past + seqlen);
    check_f32("rope", "x", x, batch * seqlen, heads * head_dim);
    check_vec("rope", "inv_freq", inv_freq, head_dim / 2, false);
    cpu::rope(x, inv_freq, batch, seqlen, past, heads, head_dim);
  }

  void attention(const AttentionArgs& a) override {
    KL_CHECK(a.batch >= 1 && a.seqlen >= 1 && a.past >= 0, "attention: batch {} seqlen {} past {}",
             a.batch, a.seqlen, a.past);
    KL_CHECK(a.heads >= 1 && a.kv_heads >= 1 && a.heads % a.kv_heads == 0 && a.head_dim >= 1 &&
                 a.v_head_dim >= 1,
             "attention: heads {} kv_heads {} head_dim {} v_head_dim {}", a.heads, a.kv_heads,
             a.head_dim, a.v_head_dim);
    KL_CHECK(a.window >= 0 && a.meta >= 0, "attention: window {} meta {}", a.window, a.meta);
    KL_CHECK(a.k_cache.shape.size() == 3 && a.v_cache.shape.size() == 3 &&
                 a.k_cache.shape[0] == a.batch && a.v_cache.shape[0] == a.batch &&
                 a.k_cache.shape[1] == a.v_cache.shape[1],
             "attention: caches {} and {} must be [{}, capacity, ·]", shape_str(a.k_cache.shape),
             shape_str(a.v_cache.shape), a.batch);
    const int64_t rows = a.batch * a.seqlen, cap = a.k_cache.shape[1];
    check_f32("attention", "q", a.q, rows, a.heads * a.head_dim);
    check_f32("attention", "k_cache", a.k_cache, a.batch * cap, a.kv_heads * a.head_dim);
    check_f32("attention", "v_cache", a.v_cache, a.batch * cap, a.kv_heads * a.v_head_dim);
    check_f32("attention", "out", a.out, rows, a.heads * a.v_head_dim);
    // Every key a query may see must still be in its slot: the caches cover every position
    // (identity), or a sliding window's ring holds the window plus this call's tokens.
    const int64_t end = a.past + a.seqlen;
    KL_CHECK(end <= cap || (a.window > 0 && cap - a.meta >= a.window + a.seqlen),
             "attention: capacity {} cannot hold positions up to {} (window {}, meta {}, {} new)",
             cap, end, a.window, a.meta, a.seqlen);
    for (const Tensor* t : {&a.q, &a.k_cache, &a.v_cache})
      KL_CHECK(!overlaps(a.out, *t), "attention: out overlaps q or the caches");
    cpu::attention(a);
  }

  void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out) override {
    const int64_t n = gate.rows(), F = gate.cols();
    check_f32("silu_mul", "gate", gate, n, F);
    check_f32("silu_mul", "up", up, n, F);
    check_f32("silu_mul", "out", out, n, F);
    cpu::silu_mul(gate, up, out);
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace kllens
