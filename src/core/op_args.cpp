// The argument checks of the ops that take an argument struct (backend.h): shapes, types,
// strides and which tensors may overlap. Both backends call them before anything else;
// each then adds only what its memory or device needs (host memory on the CPU, buffer
// ranges and device limits on Vulkan).
#include "kllens/backend.h"
#include "kllens/error.h"

namespace kllens {

namespace {

// An F32 tensor of `rows` × `cols` inside its buffer (rows may be strided).
void check_f32(const char* op, const char* name, const Tensor& t, int64_t rows, int64_t cols) {
  KL_CHECK(!t.empty(), "{}: {} is missing", op, name);
  KL_CHECK(t.dtype == DType::F32, "{}: {} must be F32, got {}", op, name, dtype_name(t.dtype));
  KL_CHECK(t.rows() == rows && t.cols() == cols, "{}: {} has shape {}, expected {} rows × {} cols",
           op, name, shape_str(t.shape), rows, cols);
  KL_CHECK(t.row_stride >= t.cols() || t.rows() <= 1, "{}: {} row stride {} < {} columns", op, name,
           t.row_stride, t.cols());
  KL_CHECK(t.buf && t.offset + t.span_bytes() <= t.buf->bytes(), "{}: {} runs past its buffer", op, name);
}

// An F32 vector of n elements, or nothing when `optional` and empty.
void check_vec(const char* op, const char* name, const Tensor& t, int64_t n, bool optional) {
  if (optional && t.empty()) return;
  check_f32(op, name, t, 1, n);
}

bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.empty() || b.empty() || a.buf != b.buf) return false;
  return a.offset < b.offset + b.span_bytes() && b.offset < a.offset + a.span_bytes();
}

bool same_view(const Tensor& a, const Tensor& b) {
  return a.buf == b.buf && a.offset == b.offset && a.row_stride == b.row_stride;
}

}  // namespace

void validate(const Conv1dArgs& a) {
  KL_CHECK(a.batch >= 1 && a.seqlen >= 1, "conv1d_causal: batch {} seqlen {}", a.batch, a.seqlen);
  const int64_t C = a.x.cols(), K = a.weight.cols();
  check_f32("conv1d_causal", "x", a.x, a.batch * a.seqlen, C);
  check_f32("conv1d_causal", "weight", a.weight, C, K);
  KL_CHECK(a.weight.contiguous() && K >= 1, "conv1d_causal: weight must be a contiguous [C, K]");
  check_vec("conv1d_causal", "bias", a.bias, C, true);
  if (K > 1) check_f32("conv1d_causal", "state", a.state, a.batch * (K - 1), C);
  check_f32("conv1d_causal", "out", a.out, a.batch * a.seqlen, C);
  KL_CHECK(!overlaps(a.out, a.x) && !overlaps(a.out, a.state) && !overlaps(a.x, a.state),
           "conv1d_causal: x, state and out must not overlap");
}

void validate(const SsmScanArgs& a) {
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
}

void validate(const SsdScanArgs& a) {
  KL_CHECK(a.batch >= 1 && a.seqlen >= 1 && a.chunk >= 1, "ssd_scan: batch {} seqlen {} chunk {}",
           a.batch, a.seqlen, a.chunk);
  KL_CHECK(a.heads >= 1 && a.head_dim >= 1 && a.groups >= 1 && a.state_size >= 1 &&
               a.heads % a.groups == 0,
           "ssd_scan: heads {} head_dim {} groups {} state {}", a.heads, a.head_dim, a.groups,
           a.state_size);
  KL_CHECK(a.dt_min >= 0.0f && a.dt_min <= a.dt_max, "ssd_scan: Δ limits [{}, {}]", a.dt_min, a.dt_max);
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
  KL_CHECK(!overlaps(a.out, a.x) || same_view(a.out, a.x),
           "ssd_scan: out overlaps x without aliasing it exactly");
}

void validate(const AttentionArgs& a) {
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
           "attention: capacity {} cannot hold positions up to {} (window {}, meta {}, {} new)", cap,
           end, a.window, a.meta, a.seqlen);
  for (const Tensor* t : {&a.q, &a.k_cache, &a.v_cache})
    KL_CHECK(!overlaps(a.out, *t), "attention: out overlaps q or the caches");
}

}  // namespace kllens
