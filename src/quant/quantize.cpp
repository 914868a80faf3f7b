// Symmetric abs-max quantisation (see include/kllens/quant.h for the formulas and layouts).
//
// Per row of w [N, K] (row stride ld):
//   channel:  s = max(max_k |w[k]|, 1e-5) / qmax;              q[k] = clamp(rne(w[k] / s))
//   group g:  for each group G = [g0, g0 + min(g, K - g0)):
//             d = fp16(max(max_{k∈G} |w[k]|, 1e-5) / qmax);   q[k] = clamp(rne(w[k] / d))
// clamp to [-2^(b-1), 2^(b-1) - 1], rne = round half to even (the default FP rounding mode
// under std::nearbyint). All arithmetic in fp32, as the fixtures' reference does it.
#include "kllens/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/dequant.h"
#include "kllens/error.h"

namespace kllens {

// ---- QuantSpec -----------------------------------------------------------------------

void QuantSpec::validate() const {
  KL_CHECK(bits == 8 || bits == 4 || bits == 3 || bits == 2,
           "quantisation bits {} (expected 4 or 8; 2 or 3 for probes)", bits);
  KL_CHECK(group == 0 || group == 32 || group == 64 || group == 128,
           "quantisation group {} (expected channel, 32, 64 or 128)", group);
}

DType QuantSpec::storage() const {
  validate();
  if (!storable())
    fail("INT{} is a probe-only width (fake quantisation): it has no storage type", bits);
  if (group == 0) return bits == 8 ? DType::Q8_C : DType::Q4_C;
  return bits == 8 ? DType::Q8_0 : DType::Q4_0;
}

std::string QuantSpec::name() const {
  std::string s = "q" + std::to_string(bits);
  if (group != 0) s += "_g" + std::to_string(group);
  return s;
}

QuantSpec QuantSpec::parse(const std::string& s) {
  QuantSpec q;
  if (s.rfind("q8", 0) == 0) q.bits = 8;
  else if (s.rfind("q4", 0) == 0) q.bits = 4;
  else fail("'{}' is not a quantisation (expected q8, q4, q8_g32, q4_g64, ...)", s);
  const std::string rest = s.substr(2);
  if (rest.empty()) return q;
  if (rest.rfind("_g", 0) != 0) fail("'{}' is not a quantisation", s);
  q.group = parse_group(rest.substr(2));
  return q;
}

int QuantSpec::parse_group(const std::string& s) {
  if (s == "channel") return 0;
  if (s == "32") return 32;
  if (s == "64") return 64;
  if (s == "128") return 128;
  fail("group '{}' (expected channel, 32, 64 or 128)", s);
}

QuantSpec QuantSpec::from_dtype(DType t) {
  switch (t) {
    case DType::Q8_C: return {8, 0};
    case DType::Q4_C: return {4, 0};
    case DType::Q8_0: return {8, 32};
    case DType::Q4_0: return {4, 32};
    default: fail("{} is not a quantised weight type", dtype_name(t));
  }
}

// ---- kernels -------------------------------------------------------------------------

namespace {

float absmax(const float* x, int64_t n) {
  float m = 0.0f;
  for (int64_t k = 0; k < n; ++k) m = std::max(m, std::fabs(x[k]));
  return m;
}

int quant_one(float w, float scale, int qmax) {
  const float q = std::nearbyint(w / scale);  // round half to even
  return int(std::clamp(q, float(-qmax - 1), float(qmax)));
}

// Per-channel row: F32 scale, int8 values (Q8_C) or two's-complement nibbles (Q4_C).
void channel_row(const float* w, int64_t K, int bits, uint8_t* dst, float* scale) {
  const int qmax = (1 << (bits - 1)) - 1;
  const float s = std::max(absmax(w, K), 1e-5f) / float(qmax);
  *scale = s;
  if (bits == 8) {
    for (int64_t k = 0; k < K; ++k) dst[k] = uint8_t(int8_t(quant_one(w[k], s, qmax)));
  } else {
    for (int64_t k = 0; k < K; ++k)
      dst[k >> 1] |= uint8_t((quant_one(w[k], s, qmax) & 0xf) << ((k & 1) * 4));
  }
}

// Grouped row in ggml blocks of 32: Q8_0 {f16 d; int8 qs[32]}, Q4_0 {f16 d; u8 qs[16]}
// (nibble q + 8; low nibbles hold elements 0..15 of the block, high nibbles 16..31).
void group_row(const float* w, int64_t K, int bits, int group, uint8_t* dst) {
  const int qmax = (1 << (bits - 1)) - 1;
  const size_t block_bytes = bits == 8 ? 34 : 18;
  for (int64_t g0 = 0; g0 < K; g0 += group) {
    const int64_t n = std::min<int64_t>(group, K - g0);
    const float d = std::max(absmax(w + g0, n), 1e-5f) / float(qmax);
    const uint16_t d16 = f32_to_f16(d);
    const float ds = f16_to_f32(d16);
    KL_CHECK(std::isfinite(ds) && ds > 0.0f, "group scale {} does not fit FP16", d);
    for (int64_t b0 = g0; b0 < g0 + n; b0 += 32) {
      std::memcpy(dst + size_t(b0 / 32) * block_bytes, &d16, 2);
    }
    for (int64_t k = g0; k < g0 + n; ++k) {
      const int q = quant_one(w[k], ds, qmax);
      uint8_t* blk = dst + size_t(k / 32) * block_bytes + 2;
      const int j = int(k % 32);
      if (bits == 8) blk[j] = uint8_t(int8_t(q));
      else if (j < 16) blk[j] |= uint8_t(q + 8);
      else blk[j - 16] |= uint8_t((q + 8) << 4);
    }
  }
}

// Fake quantisation of one row: w' = q · scale with the scale of channel_row / group_row.
void fake_row(const float* w, int64_t K, int bits, int group, float* out) {
  const int qmax = (1 << (bits - 1)) - 1;
  const int64_t g = group == 0 ? K : group;
  for (int64_t g0 = 0; g0 < K; g0 += g) {
    const int64_t n = std::min<int64_t>(g, K - g0);
    float s = std::max(absmax(w + g0, n), 1e-5f) / float(qmax);
    if (group != 0) {
      s = f16_to_f32(f32_to_f16(s));
      KL_CHECK(std::isfinite(s) && s > 0.0f, "group scale {} does not fit FP16", s);
    }
    for (int64_t k = g0; k < g0 + n; ++k) out[k] = float(quant_one(w[k], s, qmax)) * s;
  }
}

}  // namespace

void quantize_rows(const float* w, int64_t ld, int64_t K, int64_t r0, int64_t r1, QuantSpec spec,
                   uint8_t* dst, float* scale) {
  const DType t = spec.storage();
  const size_t rb = dtype_row_bytes(t, K);
  for (int64_t r = r0; r < r1; ++r) {
    uint8_t* row = dst + size_t(r) * rb;
    std::memset(row, 0, rb);  // padding and unused block slots are zero
    if (spec.group == 0) channel_row(w + r * ld, K, spec.bits, row, scale + r);
    else group_row(w + r * ld, K, spec.bits, spec.group, row);
  }
}

HostQuant quantize(const float* w, int64_t N, int64_t K, QuantSpec spec) {
  HostQuant q;
  q.type = spec.storage();
  q.rows = N;
  q.cols = K;
  q.data.resize(size_t(N) * dtype_row_bytes(q.type, K));
  if (spec.group == 0) q.scale.resize(size_t(N));
  // Rows are independent: 64-row chunks over the OpenMP threads (the same bytes as one pass).
#pragma omp parallel for schedule(dynamic)
  for (int64_t r0 = 0; r0 < N; r0 += 64)
    quantize_rows(w, K, K, r0, std::min<int64_t>(N, r0 + 64), spec, q.data.data(),
                  q.scale.empty() ? nullptr : q.scale.data());
  return q;
}

std::vector<float> dequantize(const HostQuant& q) {
  std::vector<float> out(size_t(q.rows * q.cols));
  const size_t rb = dtype_row_bytes(q.type, q.cols);
  for (int64_t r = 0; r < q.rows; ++r)
    cpu::dequant_row(q.type, q.data.data() + size_t(r) * rb, q.cols,
                     q.scale.empty() ? 1.0f : q.scale[size_t(r)], out.data() + r * q.cols);
  return out;
}

std::vector<float> fake_quantize(const float* w, int64_t N, int64_t K, QuantSpec spec) {
  spec.validate();
  std::vector<float> out(size_t(N * K));
#pragma omp parallel for schedule(dynamic)
  for (int64_t r = 0; r < N; ++r) fake_row(w + r * K, K, spec.bits, spec.group, out.data() + r * K);
  return out;
}

// ---- on a backend --------------------------------------------------------------------

namespace {

// A linear weight [N, K] (F32 / F16 / BF16) as F32 on the host.
std::vector<float> download_f32(Backend& backend, const Tensor& W) {
  KL_CHECK(W.shape.size() == 2, "quantize_weight: weight must be [N, K], got {}",
           shape_str(W.shape));
  KL_CHECK(W.dtype == DType::F32 || W.dtype == DType::F16 || W.dtype == DType::BF16,
           "quantize_weight: source weight is {} (expected F32, F16 or BF16)", dtype_name(W.dtype));
  const int64_t N = W.shape[0], K = W.shape[1];
  std::vector<uint8_t> raw(size_t(N) * W.row_bytes());
  backend.download(W, raw.data());
  std::vector<float> f32(size_t(N * K));
  for (int64_t r = 0; r < N; ++r)
    cpu::dequant_row(W.dtype, raw.data() + size_t(r) * W.row_bytes(), K, 1.0f,
                     f32.data() + r * K);
  return f32;
}

}  // namespace

Weight quantize_weight_host(Backend& backend, const Weight& src, QuantSpec spec) {
  const std::vector<float> f32 = download_f32(backend, src.w);
  const int64_t N = src.w.shape[0], K = src.w.shape[1];
  HostQuant q = quantize(f32.data(), N, K, spec);
  Weight out;
  // Imported, as a model file's weights are: the bytes never change after this, so the
  // CPU backend may give the weight its packed copy for the fast matmul.
  const auto bytes = std::make_shared<std::vector<uint8_t>>(std::move(q.data));
  out.w = backend.import_host(bytes, bytes->data(), q.type, {N, K});
  if (!q.scale.empty()) {
    out.scale = backend.alloc(DType::F32, {N});
    backend.upload(out.scale, q.scale.data());
  }
  out.bias = src.bias;
  return out;
}

Weight fake_quantize_weight(Backend& backend, const Weight& src, QuantSpec spec) {
  const std::vector<float> f32 = download_f32(backend, src.w);
  const int64_t N = src.w.shape[0], K = src.w.shape[1];
  const std::vector<float> wq = fake_quantize(f32.data(), N, K, spec);
  Weight out;
  out.w = backend.alloc(DType::F32, {N, K});
  backend.upload(out.w, wq.data());
  out.bias = src.bias;
  return out;
}

Weight quantize_weight(Backend& backend, const Weight& src, QuantSpec spec) {
  spec.validate();
  if (!spec.storable()) return fake_quantize_weight(backend, src, spec);
  if (spec.group == 0 || spec.group == 32) return backend.quantize_weight(src, spec.storage());
  return quantize_weight_host(backend, src, spec);
}

double weight_bytes(int64_t N, int64_t K, const std::optional<QuantSpec>& spec) {
  if (!spec) return 2.0 * double(N) * double(K);
  const double values = std::ceil(double(K) * spec->bits / 8.0);
  const double scales = spec->group == 0 ? 4.0 : 2.0 * std::ceil(double(K) / spec->group);
  return double(N) * (values + scales);
}

}  // namespace kllens
