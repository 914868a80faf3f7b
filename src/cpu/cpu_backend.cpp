// The CPU backend: host memory, immediate execution, and the shape/dtype checks of every
// op before it reaches a kernel (kernels in src/cpu/<op>.h trust their arguments).
//
// Buffers are 64-byte-aligned host allocations; import_host borrows the caller's bytes
// (a file mapping, say) without copying. Ops run when called, so sync() has nothing to
// wait for.
//
// Weights whose bytes never change after they are made (imported, or written by
// quantize_weight) may carry a second, packed copy for the AVX2 fast GEMV
// (cpu/matmul_q8act_pack.h: integer rows interleaved by 8), made on the first fast GEMV that
// reads the whole weight; every other op, and the GEMM, read the stored bytes.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/add.h"
#include "cpu/argmax.h"
#include "cpu/attention.h"
#include "cpu/conv1d_causal.h"
#include "cpu/copy.h"
#include "cpu/cpu_features.h"
#include "cpu/embed.h"
#include "cpu/kl_reduce.h"
#include "cpu/matmul.h"
#include "cpu/matmul_q8act.h"
#include "cpu/matmul_q8act_pack.h"
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

// A host buffer; `immutable` ones (weights) may hold the packed copy of the weight that
// fills them (made once, on first use).
class HostBuffer : public Buffer {
 public:
  bool immutable = false;
  std::unique_ptr<cpu::PackedWeight> packed;  // owned; null until a fast GEMV asks for it

 protected:
  HostBuffer(size_t bytes, void* host) : Buffer(bytes, host) {}
};

// Owns a 64-byte-aligned host allocation.
class CpuBuffer final : public HostBuffer {
 public:
  explicit CpuBuffer(size_t bytes) : HostBuffer(bytes, allocate(bytes)) {}
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
class BorrowedBuffer final : public HostBuffer {
 public:
  BorrowedBuffer(size_t bytes, const void* data, std::shared_ptr<const void> owner)
      : HostBuffer(bytes, const_cast<void*>(data)), owner_(std::move(owner)) {
    immutable = true;
  }

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

// Every given tensor that is present lives in host memory (the op's shapes were checked
// by validate()).
void check_host(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) KL_CHECK(t->empty() || host_ok(*t), "{}: a tensor is not host memory", op);
}

bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.buf != b.buf) return false;
  return a.offset < b.offset + b.span_bytes() && b.offset < a.offset + a.span_bytes();
}

// ---- the backend ---------------------------------------------------------------------

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(CpuTier tier) : tier_(tier) {}
  std::string name() const override {
    return tier_ == best_cpu_tier() ? "cpu" : std::string("cpu-") + cpu_tier_name(tier_);
  }

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
    cpu::embed(tier_, table, ids, out);
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override {
    check_f32("rms_norm", "x", x, x.rows(), x.cols());
    check_vec("rms_norm", "w", w, x.cols(), false);
    check_f32("rms_norm", "out", out, x.rows(), x.cols());
    KL_CHECK(eps >= 0.0f, "rms_norm: eps {} < 0", eps);
    cpu::rms_norm(tier_, x, w, eps, out);
  }

  void add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                    const Tensor& out) override {
    const int64_t n = residual.rows(), H = residual.cols();
    check_f32("add_rms_norm", "residual", residual, n, H);
    check_f32("add_rms_norm", "delta", delta, n, H);
    check_vec("add_rms_norm", "w", w, H, false);
    check_f32("add_rms_norm", "out", out, n, H);
    KL_CHECK(eps >= 0.0f, "add_rms_norm: eps {} < 0", eps);
    cpu::add_rms_norm(tier_, residual, delta, w, eps, out);
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
    if (matmul_mode() == MatmulMode::fast && cpu::matmul_q8act_supports(W.dtype)) {
      if (const cpu::PackedWeight* p = packed_for_gemv(x, W)) return cpu::matmul_q8act_packed_avx2(x, w, *p, out);
      return cpu::matmul_q8act(tier_, x, w, out);
    }
    cpu::matmul(tier_, x, w, out);
  }

  void conv1d_causal(const Conv1dArgs& a) override {
    validate(a);
    check_host("conv1d_causal", {&a.x, &a.weight, &a.bias, &a.state, &a.out});
    cpu::conv1d_causal(tier_, a);
  }

  void ssm_scan(const SsmScanArgs& a) override {
    validate(a);
    check_host("ssm_scan", {&a.u, &a.delta, &a.A, &a.B, &a.C, &a.D, &a.z, &a.state, &a.out});
    cpu::ssm_scan(tier_, a);
  }

  void add(const Tensor& a, const Tensor& b, const Tensor& out) override {
    check_f32("add", "a", a, a.rows(), a.cols());
    check_f32("add", "b", b, a.rows(), a.cols());
    check_f32("add", "out", out, a.rows(), a.cols());
    cpu::add(tier_, a, b, out);
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
    cpu::kl_reduce(tier_, teacher, student, targets, out);
  }

  void argmax(const Tensor& logits, const Tensor& out) override {
    check_f32("argmax", "logits", logits, logits.rows(), logits.cols());
    KL_CHECK(logits.cols() >= 1, "argmax: empty rows");
    KL_CHECK(host_ok(out) && out.dtype == DType::I32 && out.contiguous() &&
                 out.numel() == logits.rows(),
             "argmax: out must be a contiguous I32 [{}]", logits.rows());
    cpu::argmax(tier_, logits, out);
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
    cpu::topk(tier_, logits, values, indices);
  }

  // Quantises straight from host memory, rows split across threads; F16/BF16 sources take
  // the default (convert on the host) path.
  Weight quantize_weight(const Weight& src, DType type) override {
    const QuantSpec spec = QuantSpec::from_dtype(type);
    const Tensor& W = src.w;
    KL_CHECK(host_ok(W) && W.shape.size() == 2, "quantize_weight: weight must be a [N, K] tensor");
    if (W.dtype != DType::F32 || !W.contiguous()) {
      Weight out = Backend::quantize_weight(src, type);  // written once, by the host
      static_cast<HostBuffer&>(*out.w.buf).immutable = true;
      return out;
    }
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
    static_cast<HostBuffer&>(*out.w.buf).immutable = true;
    return out;
  }

  // ---- Mamba-2 and Hymba (cpu/ssd_scan.h, rms_norm_gated.h, rope.h, attention.h, silu_mul.h)
  void ssd_scan(const SsdScanArgs& a) override {
    validate(a);
    check_host("ssd_scan", {&a.x, &a.dt, &a.dt_bias, &a.A, &a.B, &a.C, &a.D, &a.state, &a.out});
    cpu::ssd_scan(tier_, a);
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
    cpu::rms_norm_gated(tier_, y, z, w, group_size, eps, out);
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
    cpu::rope(tier_, x, inv_freq, batch, seqlen, past, heads, head_dim);
  }

  void attention(const AttentionArgs& a) override {
    validate(a);
    check_host("attention", {&a.q, &a.k_cache, &a.v_cache, &a.out});
    cpu::attention(tier_, a);
  }

  void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out) override {
    const int64_t n = gate.rows(), F = gate.cols();
    check_f32("silu_mul", "gate", gate, n, F);
    check_f32("silu_mul", "up", up, n, F);
    check_f32("silu_mul", "out", out, n, F);
    cpu::silu_mul(tier_, gate, up, out);
  }

 private:
  // The packed copy of W for a fast GEMV of x (made now if W may have one), or null.
  const cpu::PackedWeight* packed_for_gemv(const Tensor& x, const Tensor& W) {
    if (tier_ != CpuTier::avx2 || x.rows() >= 4 || !cpu::packable(W.dtype) || W.offset != 0) return nullptr;
    auto* hb = dynamic_cast<HostBuffer*>(W.buf.get());
    if (!hb || !hb->immutable || W.rows() * W.row_bytes() != hb->bytes()) return nullptr;
    if (!hb->packed) hb->packed = cpu::pack_weight(W.dtype, W.data<uint8_t>(), W.row_bytes(), W.rows(), W.cols());
    const cpu::PackedWeight& p = *hb->packed;
    return p.type == W.dtype && p.N == W.rows() && p.K == W.cols() ? &p : nullptr;
  }

  CpuTier tier_;
};

}  // namespace

const char* cpu_tier_name(CpuTier tier) { return tier == CpuTier::avx2 ? "avx2" : "reference"; }

bool cpu_tier_supported(CpuTier tier) { return tier == CpuTier::reference || cpu::cpu_has_avx2(); }

CpuTier best_cpu_tier() { return cpu::cpu_has_avx2() ? CpuTier::avx2 : CpuTier::reference; }

std::unique_ptr<Backend> make_cpu_backend(CpuTier tier) {
  KL_CHECK(cpu_tier_supported(tier), "the CPU tier {} needs AVX2, FMA and F16C, which this CPU lacks",
           cpu_tier_name(tier));
  return std::make_unique<CpuBackend>(tier);
}

}  // namespace kllens
