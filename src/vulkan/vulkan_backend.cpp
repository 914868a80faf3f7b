// The Vulkan backend: construction, memory, transfers and synchronisation. The ops live
// in src/vulkan/<op>.cpp; the member functions here only forward to them.
#include "vulkan/vulkan_backend.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "vulkan/vk_check.h"

namespace kllens::vk {

namespace {
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}
uint32_t pow2_at_least(uint32_t v, uint32_t floor) {
  uint32_t p = 1;
  while (p < v || p < floor) p <<= 1;
  return p;
}

// The subgroup size to require for GEMV and row reductions:
//   $KLLENS_VULKAN_SUBGROUP=N   N (0: none); an unavailable size is an error;
//   Intel (Xe2)                 16, where the driver's default is 32: llama.cpp measured its
//                               GEMV faster in SIMD16 (fewer registers per thread);
//   a CPU device (lavapipe)     its only width: a no-op that keeps this path under test;
//   otherwise                   none: the driver picks (e.g. wave32/wave64 on AMD).
uint32_t pick_subgroup(const DeviceInfo& info) {
  if (const char* v = std::getenv("KLLENS_VULKAN_SUBGROUP"); v && *v) {
    const uint32_t n = uint32_t(std::strtoul(v, nullptr, 10));
    KL_CHECK(n == 0 || (info.required_subgroup_compute && n >= info.min_subgroup_size &&
                        n <= info.max_subgroup_size && (n & (n - 1)) == 0),
             "KLLENS_VULKAN_SUBGROUP={}: the device offers {} (size control {})", v,
             info.required_subgroup_compute
                 ? fmt::format("[{}, {}]", info.min_subgroup_size, info.max_subgroup_size)
                 : std::string("no choice"),
             info.required_subgroup_compute);
    return n;
  }
  if (!info.required_subgroup_compute) return 0;
  const bool has16 = info.min_subgroup_size <= 16 && 16 <= info.max_subgroup_size;
  if (info.vendor_id == 0x8086 && has16) return 16;
  if (info.type == VK_PHYSICAL_DEVICE_TYPE_CPU) return info.subgroup_size;
  return 0;
}

// Threads per side of the GEMM workgroup; the tile is 64×64 either way. On lavapipe 8×8
// threads with 8×8 outputs each run the mamba-130m prefill products at 4.6 GFLOP/s, 16×16
// with 4×4 each at 2.2 (kllens_bench 'matmul/vulkan/.*prefill', same run): a CPU device
// gathers every shared-memory read lane by lane. GPUs keep 256 threads for occupancy.
uint32_t pick_gemm_threads(const DeviceInfo& info) {
  if (const char* v = std::getenv("KLLENS_VULKAN_GEMM_THREADS"); v && *v) {
    KL_CHECK(std::strcmp(v, "8") == 0 || std::strcmp(v, "16") == 0,
             "KLLENS_VULKAN_GEMM_THREADS={}: expected 8 or 16", v);
    return uint32_t(std::strtoul(v, nullptr, 10));
  }
  return info.type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 8 : 16;
}

// GEMV by 32-blocks. A CPU device (lavapipe) runs a workgroup's subgroups one after the
// other and every non-uniform load lane by lane, so one subgroup per workgroup (no
// shared-memory round), a whole block per thread, and 16 rows per workgroup sharing each
// x load. GPUs: 64+ threads, 4 threads per block (a Q4 thread reads one code word), 4 rows.
// min_groups (rows_for): 1 on CPU devices, i.e. always `rows` rows: on lavapipe x_proj's
// 80 rows in 16-row groups (5 groups on 2 threads) ran faster than in 8- or 4-row groups
// (10, 20 groups) for F16, Q4_C and fast Q4_0 alike, since every workgroup reloads (fast:
// requantises) the whole x row; docs/vulkan.md. On a GPU 128 workgroups, so a small N still
// spreads over the device's cores: a guess that no GPU has measured yet.
GemvShape pick_gemv_shape(const DeviceInfo& info, uint32_t gpu_wg) {
  const GemvShape cpu{std::max(8u, info.max_subgroup_size), 16, 1, true, true, 1};
  const GemvShape gpu{gpu_wg, 4, 4, true, true, 128};
  GemvShape s = info.type == VK_PHYSICAL_DEVICE_TYPE_CPU ? cpu : gpu;
  // $KLLENS_VULKAN_GEMV: comma-separated cpu | gpu (that shape), element (the fallback).
  const char* v = std::getenv("KLLENS_VULKAN_GEMV");
  for (std::string_view rest = v ? v : ""; !rest.empty();) {
    const size_t comma = rest.find(',');
    const std::string_view word = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (word == "cpu") s = GemvShape{cpu.wg, cpu.rows, cpu.split, s.blocked, s.dot, cpu.min_groups};
    else if (word == "gpu") s = GemvShape{gpu.wg, gpu.rows, gpu.split, s.blocked, s.dot, gpu.min_groups};
    else if (word == "element") s.blocked = false;
    else if (word == "nodot") s.dot = false;
    else if (word.starts_with("wg=")) s.wg = uint32_t(std::strtoul(word.data() + 3, nullptr, 10));
    else if (word.starts_with("rows=")) s.rows = uint32_t(std::strtoul(word.data() + 5, nullptr, 10));
    else if (word.starts_with("split=")) s.split = uint32_t(std::strtoul(word.data() + 6, nullptr, 10));
    else if (word.starts_with("groups=")) s.min_groups = uint32_t(std::strtoul(word.data() + 7, nullptr, 10));
    else fail("KLLENS_VULKAN_GEMV={}: expected a comma-separated list of cpu, gpu, element, nodot, wg=N, rows=N, split=N, groups=N", v);
  }
  KL_CHECK(s.wg >= info.max_subgroup_size && (s.wg & (s.wg - 1)) == 0 && s.wg <= info.max_group_invocations &&
               s.rows >= 1 && s.rows <= 64 && (s.split == 1 || s.split == 2 || s.split == 4),
           "KLLENS_VULKAN_GEMV={}: wg must be a power of two in [{}, {}], rows in [1, 64], split 1, 2 or 4", v ? v : "",
           info.max_subgroup_size, info.max_group_invocations);
  return s;
}
}  // namespace

VulkanBackend::VulkanBackend(const VulkanOptions& options)
    : ctx_(std::make_shared<Context>(options.device_index, options.validation)),
      allocator_(std::make_shared<Allocator>(ctx_)),
      pipelines_(std::make_unique<PipelineCache>(ctx_)),
      stream_(std::make_unique<Stream>(ctx_, options.profile || env_flag("KLLENS_VULKAN_PROFILE"))),
      reduction_subgroup_(pick_subgroup(ctx_->info())),
      gemm_threads_(pick_gemm_threads(ctx_->info())),
      gemv_shape_(pick_gemv_shape(ctx_->info(), elementwise_wg())) {
  // $KLLENS_VULKAN_SUBGROUP_REDUCE=0 keeps GEMV on the shared-memory tree (for comparison).
  const char* sr = std::getenv("KLLENS_VULKAN_SUBGROUP_REDUCE");
  subgroup_reduce_ = info().subgroup_arithmetic && !(sr && std::strcmp(sr, "0") == 0);
  if (options.fault != VulkanFault::none) ctx_->inject_fault(options.fault, options.fault_after);
  ctx_->check_validation("device creation");
}

VulkanBackend::~VulkanBackend() {
  const int before = ctx_->validation_count();
  if (capture_) {  // an exception interrupted a capture: drop it
    stream_->end_capture();
    capture_.reset();
  }
  try {
    stream_->submit();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kllens vulkan: work dropped at shutdown: %s\n", e.what());
  }
  stream_.reset();
  pipelines_.reset();
  // Validation is fatal: a message that no sync() could report any more ends the process.
  if (ctx_->validation() && ctx_->validation_count() > before) {
    std::fprintf(stderr, "kllens vulkan: validation messages at shutdown; aborting\n");
    std::abort();
  }
}

std::string VulkanBackend::name() const { return "vulkan: " + ctx_->info().name; }

// Multiples of the largest subgroup the device may use, so that a required subgroup size
// always divides them.
uint32_t VulkanBackend::elementwise_wg() const { return pow2_at_least(info().max_subgroup_size, 64); }
uint32_t VulkanBackend::reduction_wg() const { return pow2_at_least(info().max_subgroup_size, 128); }

int64_t VulkanBackend::rows_per_binding(const Tensor& t, size_t elem_bytes) const {
  // Stream::bind rounds the start down to minStorageBufferOffsetAlignment and the end up to
  // a word: keep that slack free. k rows span (k-1)·row_stride + cols elements.
  const int64_t slack = int64_t(info().min_storage_offset_alignment) + 4;
  const int64_t room = int64_t(info().max_storage_buffer_range) - slack - t.cols() * int64_t(elem_bytes);
  const int64_t stride = std::max<int64_t>(1, t.row_stride) * int64_t(elem_bytes);
  return std::max<int64_t>(1, room / stride + 1);
}

// ---- memory --------------------------------------------------------------------------------

Tensor VulkanBackend::alloc(DType dtype, const Shape& shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.row_stride = t.cols();
  const size_t bytes = t.rows() * t.row_bytes();
  t.buf = std::make_shared<DeviceBuffer>(allocator_, bytes, MemoryKind::Device);
  return t;
}

Tensor VulkanBackend::scratch(ScratchSlot slot, DType dtype, const Shape& shape) {
  Tensor& buf = scratch_[size_t(slot)];
  const int64_t n = shape_numel(shape);
  if (buf.empty() || buf.dtype != dtype || buf.numel() < n)
    buf = alloc(dtype, {std::max<int64_t>({1, n, buf.empty() || buf.dtype != dtype ? 0 : 2 * buf.numel()})});
  return buf.slice_elems(0, n).reshape(shape);
}

void VulkanBackend::upload(const Tensor& dst, const void* src) {
  KL_CHECK(dst.contiguous() || dtype_is_quantized(dst.dtype), "upload into a strided tensor");
  const size_t bytes = dst.span_bytes();
  if (bytes == 0) return;
  if (capture_) return upload_captured(dst, src, bytes);
  DeviceBuffer& buf = device_buffer(dst);
  if (buf.host()) {
    // Enqueued work may still read or write these bytes: finish it first.
    sync();
    std::memcpy(static_cast<char*>(buf.host()) + dst.offset, src, bytes);
    return;
  }
  // Staged: the copy is enqueued in stream order; the staging memory lives until then.
  auto staging = std::make_shared<DeviceBuffer>(allocator_, bytes, MemoryKind::Staging);
  std::memcpy(staging->host(), src, bytes);
  stream_->copy(staging->vk_buffer(), staging->base(), buf.vk_buffer(), buf.base() + dst.offset, bytes);
  stream_->keep_alive(staging);
  stream_->keep_alive(dst.buf);
}

void VulkanBackend::download(const Tensor& src, void* dst) {
  KL_CHECK(!capture_, "download while a graph is being captured");
  const size_t span = src.span_bytes();
  if (span == 0) return;
  DeviceBuffer& buf = device_buffer(src);
  const char* from = nullptr;
  std::shared_ptr<DeviceBuffer> staging;
  if (buf.host()) {
    sync();
    from = static_cast<const char*>(buf.host()) + src.offset;
  } else {
    staging = std::make_shared<DeviceBuffer>(allocator_, span, MemoryKind::Staging);
    stream_->copy(buf.vk_buffer(), buf.base() + src.offset, staging->vk_buffer(), staging->base(), span);
    stream_->keep_alive(src.buf);
    sync();
    from = static_cast<const char*>(staging->host());
  }
  if (dtype_is_quantized(src.dtype) || src.contiguous()) {
    std::memcpy(dst, from, span);
    return;
  }
  const size_t esz = dtype_size(src.dtype), row = size_t(src.cols()) * esz;
  for (int64_t r = 0; r < src.rows(); ++r)
    std::memcpy(static_cast<char*>(dst) + size_t(r) * row, from + size_t(r) * size_t(src.row_stride) * esz, row);
}

void VulkanBackend::fill_zero(const Tensor& t) { fill(*this, t, 0u); }

void VulkanBackend::sync() {
  stream_->submit();
  ctx_->check_validation("sync");
}

// ---- ops -----------------------------------------------------------------------------------

void VulkanBackend::embed(const Weight& table, const Tensor& ids, const Tensor& out) {
  vk::embed(*this, table, ids, out);
}
void VulkanBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) {
  vk::rms_norm(*this, x, nullptr, w, eps, out);
}
void VulkanBackend::add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w,
                                 float eps, const Tensor& out) {
  vk::rms_norm(*this, residual, &delta, w, eps, out);
}
void VulkanBackend::matmul(const Tensor& x, const Weight& w, const Tensor& out) {
  if (matmul_mode() == MatmulMode::fast && dtype_is_quantized(w.w.dtype)) return vk::matmul_q8act(*this, x, w, out);
  vk::matmul(*this, x, w, out);
}
void VulkanBackend::conv1d_causal(const Conv1dArgs& a) { vk::conv1d_causal(*this, a); }
void VulkanBackend::ssm_scan(const SsmScanArgs& a) { vk::ssm_scan(*this, a); }
void VulkanBackend::add(const Tensor& a, const Tensor& b, const Tensor& out) { vk::add(*this, a, b, out); }
void VulkanBackend::copy(const Tensor& src, const Tensor& dst) { vk::copy(*this, src, dst); }
void VulkanBackend::ssd_scan(const SsdScanArgs& a) { vk::ssd_scan(*this, a); }
void VulkanBackend::rms_norm_gated(const Tensor& y, const Tensor& z, const Tensor& w,
                                   int64_t group_size, float eps, const Tensor& out) {
  vk::rms_norm_gated(*this, y, z, w, group_size, eps, out);
}
void VulkanBackend::rope(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen,
                         int64_t past, int64_t heads, int64_t head_dim) {
  vk::rope(*this, x, inv_freq, batch, seqlen, past, heads, head_dim);
}
void VulkanBackend::attention(const AttentionArgs& a) { vk::attention(*this, a); }
void VulkanBackend::silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  vk::silu_mul(*this, gate, up, out);
}
void VulkanBackend::kl_reduce(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                              const Tensor& out) {
  vk::kl_reduce(*this, teacher, student, targets, out);
}
void VulkanBackend::argmax(const Tensor& logits, const Tensor& out) { vk::argmax(*this, logits, out); }
void VulkanBackend::topk(const Tensor& logits, const Tensor& values, const Tensor& indices) {
  vk::topk(*this, logits, values, indices);
}
Weight VulkanBackend::quantize_weight(const Weight& src, DType type) {
  return vk::quantize_weight(*this, src, type);
}

// ---- launcher helpers ------------------------------------------------------------------------

void check_view(const Tensor& t, const char* what, DType dtype, int64_t rows, int64_t cols) {
  KL_CHECK(!t.empty(), "{} is missing", what);
  KL_CHECK(t.dtype == dtype, "{} is {}, expected {}", what, dtype_name(t.dtype), dtype_name(dtype));
  KL_CHECK(t.rows() == rows && t.cols() == cols, "{} is {}, expected [{}, {}]", what,
           shape_str(t.shape), rows, cols);
  KL_CHECK(t.row_stride >= t.cols() || t.rows() <= 1, "{}: row stride {} < {} columns", what,
           t.row_stride, t.cols());
}

uint32_t u32(int64_t v, const char* what) {
  KL_CHECK(v >= 0 && v <= int64_t(UINT32_MAX), "{} = {} does not fit a 32-bit push constant", what, v);
  return uint32_t(v);
}

}  // namespace kllens::vk

// ---- public API ------------------------------------------------------------------------------

namespace kllens {

std::unique_ptr<Backend> make_vulkan_backend(const VulkanOptions& options) {
  VulkanOptions o = options;
  // $KLLENS_VULKAN_FAULT=oom[:N] | lost[:N]: the fault hook, mapped here, at the edge.
  if (const char* v = std::getenv("KLLENS_VULKAN_FAULT"); v && *v && o.fault == VulkanFault::none) {
    const std::string s(v), kind = s.substr(0, s.find(':'));
    KL_CHECK(kind == "oom" || kind == "lost", "KLLENS_VULKAN_FAULT={}: expected oom[:N] or lost[:N]", s);
    o.fault = kind == "oom" ? VulkanFault::out_of_device_memory : VulkanFault::device_lost;
    if (s.size() > kind.size()) {
      const std::string n = s.substr(kind.size() + 1);
      KL_CHECK(!n.empty() && n.size() <= 9 && n.find_first_not_of("0123456789") == std::string::npos,
               "KLLENS_VULKAN_FAULT={}: N must be a count", s);
      o.fault_after = std::stoi(n);
    }
  }
  return std::make_unique<vk::VulkanBackend>(o);
}

std::unique_ptr<Backend> make_vulkan_backend(int device_index) {
  VulkanOptions o;
  o.device_index = device_index;
  return make_vulkan_backend(o);
}

namespace {
vk::VulkanBackend& as_vulkan(Backend& b) {
  auto* v = dynamic_cast<vk::VulkanBackend*>(&b);
  KL_CHECK(v != nullptr, "backend {} is not a Vulkan backend", b.name());
  return *v;
}
}  // namespace

std::string vulkan_device_summary(Backend& backend) { return as_vulkan(backend).info().summary(); }
std::string vulkan_driver(Backend& backend) {
  const auto& i = as_vulkan(backend).info();
  return i.driver_info.empty() ? i.driver_name : i.driver_name + " " + i.driver_info;
}
int vulkan_validation_messages(Backend& backend) { return as_vulkan(backend).context().validation_count(); }
std::string vulkan_profile_report(Backend& backend) { return as_vulkan(backend).profile_report(); }
bool vulkan_counters(Backend& backend, VulkanCounters& out) {
  auto* vb = dynamic_cast<vk::VulkanBackend*>(&backend);
  if (!vb) return false;
  const vk::StreamCounts& c = vb->stream().counts();
  out = {c.dispatches, c.submits, c.bytes_read, c.bytes_written, double(c.host_ns) * 1e-3};
  return true;
}

}  // namespace kllens
