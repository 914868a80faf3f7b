// The argument checks of every op (the structs of backend.h and core/op_args.h): shapes,
// types, strides and which tensors may overlap. Both backends call them before anything
// else; each then adds only what its memory or device needs (host memory on the CPU,
// device limits on Vulkan).
#include "core/op_args.h"

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
// An element-wise op of three F32 operands: the second and the output have the first's shape.
void check_elementwise(const char* op, const char* const (&names)[3], const Tensor& first, const Tensor& second,
                       const Tensor& out) {
  const int64_t n = first.rows(), C = first.cols();
  check_f32(op, names[0], first, n, C);
  check_f32(op, names[1], second, n, C);
  check_f32(op, names[2], out, n, C);
}

void check_vec(const char* op, const char* name, const Tensor& t, int64_t n, bool optional) {
  if (optional && t.empty()) return;
  check_f32(op, name, t, 1, n);
}

// A contiguous I32 tensor of n elements (one strided row counts: its elements are adjacent).
void check_i32(const char* op, const char* name, const Tensor& t, int64_t n) {
  KL_CHECK(!t.empty(), "{}: {} is missing", op, name);
  KL_CHECK(t.dtype == DType::I32 && t.numel() == n && (t.contiguous() || t.rows() <= 1),
           "{}: {} must be a contiguous I32 [{}], got {} {}", op, name, n, dtype_name(t.dtype),
           shape_str(t.shape));
  KL_CHECK(t.buf && t.offset + t.span_bytes() <= t.buf->bytes(), "{}: {} runs past its buffer", op, name);
}

// A weight [N, K] of a weight type (rows contiguous), with its per-row scales [N] exactly
// when the type has them (Q8_C, Q4_C), and a bias [N] or none when `bias`.
void check_weight(const char* op, const Weight& w, bool bias) {
  const Tensor& W = w.w;
  KL_CHECK(!W.empty() && W.shape.size() == 2, "{}: weight must be a [N, K] tensor, got {}", op,
           shape_str(W.shape));
  KL_CHECK(W.dtype != DType::I32 && W.dtype != DType::I64, "{}: weight dtype {} is not a weight type", op,
           dtype_name(W.dtype));
  KL_CHECK(dtype_is_quantized(W.dtype) || W.contiguous(), "{}: weight rows must be contiguous", op);
  KL_CHECK(W.buf && W.offset + W.span_bytes() <= W.buf->bytes(), "{}: weight runs past its buffer", op);
  const bool per_row = W.dtype == DType::Q8_C || W.dtype == DType::Q4_C;
  KL_CHECK(per_row != w.scale.empty(),
           "{}: a scale [N] is required for Q8_C/Q4_C weights and only for them (weight {})", op,
           dtype_name(W.dtype));
  check_vec(op, "scale", w.scale, W.shape[0], true);
  if (bias) check_vec(op, "bias", w.bias, W.shape[0], true);
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

// ---- the ops that take their tensors one by one (core/op_args.h) ------------------------

void validate(const EmbedArgs& a) {
  check_weight("embed", a.table, false);
  check_i32("embed", "ids", a.ids, a.ids.numel());
  check_f32("embed", "out", a.out, a.ids.numel(), a.table.w.cols());
}

void validate(const RmsNormArgs& a) {
  const char* op = a.delta ? "add_rms_norm" : "rms_norm";
  const int64_t n = a.x.rows(), H = a.x.cols();
  check_f32(op, a.delta ? "residual" : "x", a.x, n, H);
  if (a.delta) check_f32(op, "delta", *a.delta, n, H);
  check_vec(op, "w", a.w, H, false);
  check_f32(op, "out", a.out, n, H);
  KL_CHECK(a.eps >= 0.0f, "{}: eps {} is not ≥ 0", op, a.eps);
  // out may be x itself (each row is read whole before it is written), not a shifted view.
  KL_CHECK(!overlaps(a.out, a.x) || same_view(a.out, a.x), "{}: out overlaps x without being x", op);
  if (a.delta) KL_CHECK(!overlaps(*a.delta, a.x), "add_rms_norm: delta overlaps the residual");
}

void validate(const MatmulArgs& a) {
  check_weight("matmul", a.w, true);
  const int64_t N = a.w.w.shape[0], K = a.w.w.shape[1];
  check_f32("matmul", "x", a.x, a.x.rows(), K);
  check_f32("matmul", "out", a.out, a.x.rows(), N);
  KL_CHECK(!overlaps(a.out, a.x), "matmul: out overlaps x");
}

void validate(const AddArgs& a) { check_elementwise("add", {"a", "b", "out"}, a.a, a.b, a.out); }

void validate(const CopyArgs& a) {
  KL_CHECK(!a.src.empty() && !a.dst.empty(), "copy: src or dst is missing");
  KL_CHECK(a.src.dtype == a.dst.dtype, "copy: dtype {} to {}", dtype_name(a.src.dtype), dtype_name(a.dst.dtype));
  KL_CHECK(a.src.rows() == a.dst.rows() && a.src.cols() == a.dst.cols(), "copy: shape {} to {}",
           shape_str(a.src.shape), shape_str(a.dst.shape));
  for (const Tensor* t : {&a.src, &a.dst}) {
    KL_CHECK(dtype_is_quantized(t->dtype) || t->row_stride >= t->cols() || t->rows() <= 1,
             "copy: row stride {} < {} columns", t->row_stride, t->cols());
    KL_CHECK(t->offset + t->span_bytes() <= t->buf->bytes(), "copy: {} runs past its buffer",
             t == &a.src ? "src" : "dst");
  }
  KL_CHECK(!overlaps(a.src, a.dst) || same_view(a.src, a.dst), "copy: src and dst overlap");
}

void validate(const RmsNormGatedArgs& a) {
  const int64_t n = a.y.rows(), I = a.y.cols();
  check_f32("rms_norm_gated", "y", a.y, n, I);
  check_f32("rms_norm_gated", "z", a.z, n, I);
  check_vec("rms_norm_gated", "w", a.w, I, false);
  check_f32("rms_norm_gated", "out", a.out, n, I);
  KL_CHECK(a.group_size >= 1 && I % a.group_size == 0,
           "rms_norm_gated: group size {} does not divide {} columns", a.group_size, I);
  KL_CHECK(a.eps >= 0.0f, "rms_norm_gated: eps {} is not ≥ 0", a.eps);
  // out may be y or z itself (a row's group is read whole before it is written).
  KL_CHECK(!overlaps(a.out, a.z) || same_view(a.out, a.z), "rms_norm_gated: out overlaps z without being z");
  KL_CHECK(!overlaps(a.out, a.y) || same_view(a.out, a.y), "rms_norm_gated: out overlaps y without being y");
}

void validate(const RopeArgs& a) {
  KL_CHECK(a.batch >= 1 && a.seqlen >= 1 && a.past >= 0, "rope: batch {} seqlen {} past {}", a.batch,
           a.seqlen, a.past);
  KL_CHECK(a.heads >= 1 && a.head_dim >= 2 && a.head_dim % 2 == 0, "rope: heads {} head_dim {} (even ≥ 2)",
           a.heads, a.head_dim);
  // Positions are converted to fp32: exact up to 2^24 (the last is past + seqlen − 1).
  KL_CHECK(a.past + a.seqlen <= (int64_t(1) << 24), "rope: position {} is not exact in fp32",
           a.past + a.seqlen - 1);
  check_f32("rope", "x", a.x, a.batch * a.seqlen, a.heads * a.head_dim);
  check_vec("rope", "inv_freq", a.inv_freq, a.head_dim / 2, false);
  KL_CHECK(!overlaps(a.x, a.inv_freq), "rope: x overlaps inv_freq");
}

void validate(const SiluMulArgs& a) { check_elementwise("silu_mul", {"gate", "up", "out"}, a.gate, a.up, a.out); }

void validate(const KlReduceArgs& a) {
  const int64_t n = a.teacher.rows(), V = a.teacher.cols();
  KL_CHECK(V >= 1 && V <= int64_t(INT32_MAX), "kl_reduce: vocabulary of {}", V);
  check_f32("kl_reduce", "teacher", a.teacher, n, V);
  check_f32("kl_reduce", "student", a.student, n, V);
  check_i32("kl_reduce", "targets", a.targets, n);
  check_f32("kl_reduce", "out", a.out, n, kKlStats);
  for (const Tensor* t : {&a.teacher, &a.student, &a.targets})
    KL_CHECK(!overlaps(a.out, *t), "kl_reduce: out overlaps an input");
}

void validate(const ArgmaxArgs& a) {
  const int64_t n = a.logits.rows(), V = a.logits.cols();
  KL_CHECK(V >= 1 && V <= int64_t(INT32_MAX), "argmax: rows of {} columns", V);
  check_f32("argmax", "logits", a.logits, n, V);
  check_i32("argmax", "out", a.out, n);
  KL_CHECK(!overlaps(a.out, a.logits), "argmax: out overlaps logits");
}

void validate(const TopkArgs& a) {
  const int64_t n = a.logits.rows(), V = a.logits.cols(), k = a.values.cols();
  KL_CHECK(V >= 1 && V <= int64_t(INT32_MAX), "topk: rows of {} columns", V);
  check_f32("topk", "logits", a.logits, n, V);
  KL_CHECK(k >= 1 && k <= V, "topk: k = {} outside [1, {}]", k, V);
  check_f32("topk", "values", a.values, n, k);
  KL_CHECK(a.values.contiguous(), "topk: values must be contiguous");
  check_i32("topk", "indices", a.indices, n * k);
  for (const Tensor* t : {&a.values, &a.indices})
    KL_CHECK(!overlaps(*t, a.logits), "topk: an output overlaps logits");
  KL_CHECK(!overlaps(a.values, a.indices), "topk: values overlap indices");
}

}  // namespace kllens
