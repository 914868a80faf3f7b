// The CPU backend: host memory, immediate execution, and before each op reaches a kernel
// (kernels in src/cpu/<op>.h trust their arguments) the op's validate() (core/op_args.h,
// shared with the Vulkan launchers) and the check that its tensors are host memory.
//
// Buffers are 64-byte-aligned host allocations; import_host borrows the caller's bytes
// (a file mapping, say) without copying. Ops run when called, so sync() has nothing to
// wait for.
//
// Weights whose bytes never change after they are made (imported, or written by
// quantize_weight) may carry a second, packed copy for the fast matmul (AVX2 or AVX-512)
// (cpu/matmul_q8act_pack.h: integer rows interleaved by 8), made on the first fast matmul
// that reads the whole weight; every other op (embed, the exact matmul) reads the stored
// bytes. Once an imported weight is packed its stored pages are paged out (page_out), so
// a quantised model's resident size is its packed copy, not twice its weights; a weight
// that embed also reads (a tied embedding) keeps them.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

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
#include "core/op_args.h"
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
  bool gathered = false;  // an embed has read rows of it (a tied embedding): its pages stay
  std::unique_ptr<cpu::PackedWeight> packed;  // owned; null until a fast matmul asks for it

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

// Hands the whole pages of [p, p + bytes) back to the kernel (MADV_PAGEOUT): for a file
// mapping they leave this process's memory and a later read faults them in again from
// the file, so nothing is lost; for anonymous memory without swap it does nothing. A hint:
// a kernel that refuses it (before Linux 5.4) changes nothing either.
void page_out(const void* p, size_t bytes) {
  const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + bytes) / page * page;
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
}

// ---- argument checks -----------------------------------------------------------------

bool host_ok(const Tensor& t) { return t.buf && t.buf->host(); }

// Every given tensor that is present lives in host memory (the op's shapes were checked
// by validate()).
void check_host(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) KL_CHECK(t->empty() || host_ok(*t), "{}: a tensor is not host memory", op);
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
    if (dst.span_bytes() == 0) return;  // an empty host vector's data() may be null: memcpy's UB
    std::memcpy(dst.host_ptr(), src, dst.span_bytes());
  }

  void download(const Tensor& src, void* dst) override {
    KL_CHECK(host_ok(src), "download: source is not host memory");
    const size_t rb = src.row_bytes();
    if (src.span_bytes() == 0) return;  // as upload: dst may be an empty vector's null data()
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
    validate(EmbedArgs{table, ids, out});
    check_host("embed", {&table.w, &table.scale, &ids, &out});
    if (auto* hb = dynamic_cast<HostBuffer*>(table.w.buf.get())) hb->gathered = true;
    cpu::embed(tier_, table, ids, out);
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override {
    validate(RmsNormArgs{x, nullptr, w, eps, out});
    check_host("rms_norm", {&x, &w, &out});
    cpu::rms_norm(tier_, x, w, eps, out);
  }

  void add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                    const Tensor& out) override {
    validate(RmsNormArgs{residual, &delta, w, eps, out});
    check_host("add_rms_norm", {&residual, &delta, &w, &out});
    cpu::add_rms_norm(tier_, residual, delta, w, eps, out);
  }

  void matmul(const Tensor& x, const Weight& w, const Tensor& out) override {
    validate(MatmulArgs{x, w, out});
    check_host("matmul", {&x, &w.w, &w.scale, &w.bias, &out});
    const Tensor& W = w.w;
    if (matmul_mode() == MatmulMode::fast && cpu::matmul_q8act_supports(W.dtype)) {
      if (const cpu::PackedWeight* p = packed_copy(W)) {
        if (tier_ == CpuTier::avx512) return cpu::matmul_q8act_packed_avx512(x, w, *p, out);
        return cpu::matmul_q8act_packed_avx2(x, w, *p, out);
      }
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
    validate(AddArgs{a, b, out});
    check_host("add", {&a, &b, &out});
    cpu::add(tier_, a, b, out);
  }

  void copy(const Tensor& src, const Tensor& dst) override {
    validate(CopyArgs{src, dst});
    check_host("copy", {&src, &dst});
    cpu::copy(src, dst);
  }

  // ---- the lens (cpu/kl_reduce.h, cpu/argmax.h, src/quant) ------------------------------
  void kl_reduce(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                 const Tensor& out) override {
    validate(KlReduceArgs{teacher, student, targets, out});
    check_host("kl_reduce", {&teacher, &student, &targets, &out});
    // The targets' values, which host memory lets this backend check before the kernel.
    const int64_t V = teacher.cols();
    for (int64_t r = 0; r < targets.numel(); ++r)
      KL_CHECK(targets.data<int32_t>()[r] < V, "kl_reduce: target {} outside [0, {})",
               targets.data<int32_t>()[r], V);
    cpu::kl_reduce(tier_, teacher, student, targets, out);
  }

  void argmax(const Tensor& logits, const Tensor& out) override {
    validate(ArgmaxArgs{logits, out});
    check_host("argmax", {&logits, &out});
    cpu::argmax(tier_, logits, out);
  }

  void topk(const Tensor& logits, const Tensor& values, const Tensor& indices) override {
    validate(TopkArgs{logits, values, indices});
    check_host("topk", {&logits, &values, &indices});
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
    validate(RmsNormGatedArgs{y, z, w, group_size, eps, out});
    check_host("rms_norm_gated", {&y, &z, &w, &out});
    cpu::rms_norm_gated(tier_, y, z, w, group_size, eps, out);
  }

  void rope(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen, int64_t past,
            int64_t heads, int64_t head_dim) override {
    validate(RopeArgs{x, inv_freq, batch, seqlen, past, heads, head_dim});
    check_host("rope", {&x, &inv_freq});
    cpu::rope(tier_, x, inv_freq, batch, seqlen, past, heads, head_dim);
  }

  void attention(const AttentionArgs& a) override {
    validate(a);
    check_host("attention", {&a.q, &a.k_cache, &a.v_cache, &a.out});
    cpu::attention(tier_, a);
  }

  void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out) override {
    validate(SiluMulArgs{gate, up, out});
    check_host("silu_mul", {&gate, &up, &out});
    cpu::silu_mul(tier_, gate, up, out);
  }

 private:
  // The packed copy of W for a fast matmul (made now if W may have one), or null.
  const cpu::PackedWeight* packed_copy(const Tensor& W) {
    if (!cpu::runs_avx2(tier_) || !cpu::packable(W.dtype) || W.offset != 0) return nullptr;
    auto* hb = dynamic_cast<HostBuffer*>(W.buf.get());
    if (!hb || !hb->immutable || W.rows() * W.row_bytes() != hb->bytes()) return nullptr;
    if (!hb->packed) {
      hb->packed = cpu::pack_weight(W.dtype, W.data<uint8_t>(), W.row_bytes(), W.rows(), W.cols());
      // Fast mode reads only the packed copy from now on, so a model's file pages of this
      // weight need not stay resident beside it (a tied embedding's do: embed reads them).
      if (dynamic_cast<BorrowedBuffer*>(hb) && !hb->gathered) page_out(hb->host(), hb->bytes());
    }
    const cpu::PackedWeight& p = *hb->packed;
    return p.type == W.dtype && p.N == W.rows() && p.K == W.cols() ? &p : nullptr;
  }

  CpuTier tier_;
};

}  // namespace

const char* cpu_tier_name(CpuTier tier) {
  switch (tier) {
    case CpuTier::reference: return "reference";
    case CpuTier::avx2: return "avx2";
    case CpuTier::avx512: return "avx512";
  }
  return "?";
}

bool cpu_tier_supported(CpuTier tier) {
  switch (tier) {
    case CpuTier::reference: return true;
    case CpuTier::avx2: return cpu::cpu_has_avx2();
    case CpuTier::avx512: return cpu::cpu_has_avx512vnni();
  }
  return false;
}

CpuTier best_cpu_tier() {
  CpuTier cap = CpuTier::avx512;
  if (const char* v = std::getenv("KLLENS_CPU_TIER"); v && *v) {
    const std::string name = v;
    if (name == "reference") cap = CpuTier::reference;
    else if (name == "avx2") cap = CpuTier::avx2;
    else if (name != "avx512") fail("KLLENS_CPU_TIER: '{}' is not a CPU tier (reference, avx2, avx512)", name);
  }
  for (CpuTier t : {CpuTier::avx512, CpuTier::avx2})
    if (t <= cap && cpu_tier_supported(t)) return t;
  return CpuTier::reference;
}

std::unique_ptr<Backend> make_cpu_backend(CpuTier tier) {
  KL_CHECK(cpu_tier_supported(tier), "the CPU tier {} needs {}, which this CPU lacks", cpu_tier_name(tier),
           tier == CpuTier::avx512 ? "AVX-512 F, BW, VL and VNNI" : "AVX2, FMA and F16C");
  return std::make_unique<CpuBackend>(tier);
}

}  // namespace kllens
