// The Vulkan Backend: memory and transfers here, each op in src/vulkan/<op>.cpp.
//
// Owns (in destruction order, last first): the Context (instance, device), the Allocator,
// the PipelineCache, the Stream and, while one is open, a capture (VulkanGraph). Buffers handed out hold the Allocator (and through it
// the Context) by shared_ptr, so tensors may outlive the backend object.
#pragma once

#include <algorithm>
#include <memory>
#include <string>

#include "kllens/backend.h"
#include "kllens/error.h"
#include "kllens/vulkan.h"
#include "vulkan/context.h"
#include "vulkan/graph.h"
#include "vulkan/memory.h"
#include "vulkan/pipeline.h"
#include "vulkan/stream.h"

namespace kllens::vk {

// GEMV's workgroup (shaders/matmul_gemv.comp): wg threads (a power of two, a multiple of
// the required subgroup size), rows output features, split threads per 32-block, and
// whether it reads by 32-blocks (else element by element). Picked per device kind in
// vulkan_backend.cpp (pick_gemv_shape); $KLLENS_VULKAN_GEMV overrides (include/kllens/vulkan.h).
// The fast matmul (matmul_q8act.cpp) takes wg and rows too, and packed integer dot
// products where the device has them unless dot is off.
// Scratch tensors the op launchers reuse across launches (VulkanBackend::scratch).
enum class ScratchSlot { act_q, act_d, act_s, count };  // matmul_q8act: quantised x

struct GemvShape {
  uint32_t wg = 64, rows = 4, split = 4;
  bool blocked = true;
  bool dot = true;
  // Workgroups a GEMV should give the device at least: rows_for(N) halves rows (a
  // specialization constant) until N outputs make min_groups workgroups, so a small N
  // (x_proj's 80) still spreads over a GPU's cores (pick_gemv_shape says why not on CPUs).
  uint32_t min_groups = 1;
  uint32_t rows_for(int64_t N) const {
    uint32_t r = rows;
    while (r > 1 && (N + r - 1) / r < int64_t(min_groups)) r = (r + 1) / 2;
    return r;
  }
};

class VulkanBackend final : public Backend {
 public:
  explicit VulkanBackend(const VulkanOptions& options);
  ~VulkanBackend() override;

  std::string name() const override;

  Tensor alloc(DType dtype, const Shape& shape) override;
  void upload(const Tensor& dst, const void* src) override;
  void download(const Tensor& src, void* dst) override;
  void fill_zero(const Tensor& t) override;
  void sync() override;

  void embed(const Weight& table, const Tensor& ids, const Tensor& out) override;
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override;
  void add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                    const Tensor& out) override;
  void matmul(const Tensor& x, const Weight& w, const Tensor& out) override;
  void conv1d_causal(const Conv1dArgs& a) override;
  void ssm_scan(const SsmScanArgs& a) override;
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  // Mamba-2, Hymba and the lens
  void ssd_scan(const SsdScanArgs& a) override;
  void rms_norm_gated(const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size,
                      float eps, const Tensor& out) override;
  void rope(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen, int64_t past,
            int64_t heads, int64_t head_dim) override;
  void attention(const AttentionArgs& a) override;
  void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  void kl_reduce(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                 const Tensor& out) override;
  void argmax(const Tensor& logits, const Tensor& out) override;
  Weight quantize_weight(const Weight& src, DType type) override;
  void topk(const Tensor& logits, const Tensor& values, const Tensor& indices) override;
  // Capture and replay (src/vulkan/graph.cpp).
  bool begin_capture() override;
  std::unique_ptr<Graph> end_capture() override;
  void replay(Graph& graph) override;

  // For the op launchers.
  const DeviceInfo& info() const { return ctx_->info(); }
  Stream& stream() { return *stream_; }
  PipelineCache& pipelines() { return *pipelines_; }
  // Workgroup size for 1-D element-wise kernels and for row reductions on this device:
  // a power of two, a multiple of the subgroup size.
  uint32_t elementwise_wg() const;
  uint32_t reduction_wg() const;
  // Threads per side of the tiled GEMM's workgroup (shaders/matmul_gemm.comp): 16 on GPUs,
  // 8 on CPU devices; $KLLENS_VULKAN_GEMM_THREADS=8|16 overrides.
  uint32_t gemm_threads() const { return gemm_threads_; }
  const GemvShape& gemv_shape() const { return gemv_shape_; }
  // How many leading rows of t (elements of elem_bytes) one binding may span within
  // maxStorageBufferRange (at least 1): launchers of ops over [rows, vocabulary] tensors
  // (a 1024 × 50280 F32 logits block is 206 MB, lavapipe allows 128 MiB) split by it.
  int64_t rows_per_binding(const Tensor& t, size_t elem_bytes) const;
  // The subgroup size GEMV and the row reductions require (PipelineCache::get), 0 for the
  // driver's choice; and whether GEMV reduces with subgroupAdd (its *_sg variants).
  // Picked once per device in vulkan_backend.cpp (pick_subgroup).
  uint32_t reduction_subgroup() const { return reduction_subgroup_; }
  bool subgroup_reduce() const { return subgroup_reduce_; }

  // A contiguous [shape] tensor of dtype from scratch slot `slot`: the slot's buffer
  // grows to the largest request and is kept, so warm launches allocate nothing (a decode
  // step's capture made ~290 allocations before). A view is valid until the slot's next
  // request; the stream orders that reuse after the earlier dispatches (write after read),
  // and a recording keeps a replaced buffer alive while its work may run.
  Tensor scratch(ScratchSlot slot, DType dtype, const Shape& shape);

  const Context& context() const { return *ctx_; }
  std::string profile_report() const { return stream_->profile_report(); }

 private:
  std::shared_ptr<Context> ctx_;             // shared with allocator, pipelines, stream
  std::shared_ptr<Allocator> allocator_;     // shared with every DeviceBuffer
  std::unique_ptr<PipelineCache> pipelines_; // owned
  std::unique_ptr<Stream> stream_;           // owned
  std::unique_ptr<VulkanGraph> capture_;     // owned while a capture is open
  uint32_t reduction_subgroup_ = 0;
  bool subgroup_reduce_ = false;
  uint32_t gemm_threads_ = 16;
  GemvShape gemv_shape_;
  Tensor scratch_[size_t(ScratchSlot::count)];  // 1-D buffers, grown on demand

  void upload_captured(const Tensor& dst, const void* src, size_t bytes);
};

// ---- op launchers (one file each) --------------------------------------------------------
void embed(VulkanBackend& vb, const Weight& table, const Tensor& ids, const Tensor& out);
void rms_norm(VulkanBackend& vb, const Tensor& x, const Tensor* delta, const Tensor& w, float eps,
              const Tensor& out);
void matmul(VulkanBackend& vb, const Tensor& x, const Weight& w, const Tensor& out);
void matmul_q8act(VulkanBackend& vb, const Tensor& x, const Weight& w, const Tensor& out);
void conv1d_causal(VulkanBackend& vb, const Conv1dArgs& a);
void ssm_scan(VulkanBackend& vb, const SsmScanArgs& a);
void add(VulkanBackend& vb, const Tensor& a, const Tensor& b, const Tensor& out);
void copy(VulkanBackend& vb, const Tensor& src, const Tensor& dst);
void fill(VulkanBackend& vb, const Tensor& t, uint32_t value);
void ssd_scan(VulkanBackend& vb, const SsdScanArgs& a);
void rms_norm_gated(VulkanBackend& vb, const Tensor& y, const Tensor& z, const Tensor& w,
                    int64_t group_size, float eps, const Tensor& out);
void rope(VulkanBackend& vb, const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
          int64_t past, int64_t heads, int64_t head_dim);
void attention(VulkanBackend& vb, const AttentionArgs& a);
void silu_mul(VulkanBackend& vb, const Tensor& gate, const Tensor& up, const Tensor& out);
void kl_reduce(VulkanBackend& vb, const Tensor& teacher, const Tensor& student, const Tensor& targets,
               const Tensor& out);
void argmax(VulkanBackend& vb, const Tensor& logits, const Tensor& out);
void topk(VulkanBackend& vb, const Tensor& logits, const Tensor& values, const Tensor& indices);
Weight quantize_weight(VulkanBackend& vb, const Weight& src, DType type);

// Shared launcher checks: a plain-typed 2-D view with these rows and columns.
void check_view(const Tensor& t, const char* what, DType dtype, int64_t rows, int64_t cols);
// ceil(a / b) as a grid size.
inline uint32_t groups(int64_t a, uint32_t b) { return uint32_t((a + b - 1) / b); }
// A value for a 32-bit push constant; throws when it does not fit.
uint32_t u32(int64_t v, const char* what);

}  // namespace kllens::vk
