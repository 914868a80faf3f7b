// Checker cases of the ops of the Mamba-1 forward: embed, rms_norm, add_rms_norm, matmul
// (every weight type), conv1d_causal, ssm_scan, add, copy. Shapes: tiny and odd ones (not
// multiples of any workgroup size), and the real ones of mamba-130m, mamba-1.4b and
// Hymba-1.5B.
//
// Bounds: both backends compute in fp32 and convert F16/BF16/quantised weights exactly to
// fp32, so results differ only by the order of fp32 sums and by exp/log (libm vs GLSL,
// a few ulp): relative errors ~1e-6 at most, hence NMSE ≤ 1e-7 (issue 3's fp32 bound).
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "check/cases.h"

namespace kllens::check {

namespace {

constexpr double kFp32 = 1e-7;
const char* kFp32Why = "fp32 math on both sides; only summation order and exp/log ulps differ";

}  // namespace

// ---- weights ------------------------------------------------------------------------------

// Random bytes of a weight [N, K] in any storage type, plus per-row scales for Q8_C/Q4_C.
// Quantised weights are drawn directly as valid codes (the kernels, not the quantiser,
// are under test here).
CaseTensor weight_tensor(DType t, int64_t N, int64_t K, uint64_t seed) {
  if (!dtype_is_quantized(t)) return input("w", t, {N, K}, uniform(N * K, seed));
  CaseTensor ct{"w", t, {N, K}, {}, false, 0};
  const size_t row = dtype_row_bytes(t, K);
  ct.data.resize(size_t(N) * row);
  const std::vector<float> r = uniform(int64_t(ct.data.size()), seed, 0.f, 256.f);
  for (size_t i = 0; i < ct.data.size(); ++i) ct.data[i] = uint8_t(r[i]);
  if (t == DType::Q8_0 || t == DType::Q4_0) {  // every block starts with an f16 scale
    const size_t block = t == DType::Q8_0 ? 34 : 18;
    const std::vector<float> d = uniform(int64_t(ct.data.size() / block), seed + 1, 0.001f, 0.02f);
    for (size_t b = 0; b < ct.data.size() / block; ++b) {
      const uint16_t h = f32_to_f16(d[b]);
      std::memcpy(&ct.data[b * block], &h, 2);
    }
  }
  return ct;
}

namespace {

bool per_row_scale(DType t) { return t == DType::Q8_C || t == DType::Q4_C; }

OpCase matmul_case(DType t, int64_t n, int64_t N, int64_t K, bool bias, int64_t guard,
                   const char* what) {
  OpCase c{"matmul", fmt::format("{} n={} N={} K={} w={}{}{}", what, n, N, K, dtype_name(t),
                                 bias ? " bias" : "", guard ? " strided" : ""),
           kFp32, kFp32Why};
  const uint64_t seed = uint64_t(n * 7 + N * 131 + K * 31 + int(t));
  c.tensors.push_back(input("x", DType::F32, {n, K}, uniform(n * K, seed), guard));
  c.tensors.push_back(weight_tensor(t, N, K, seed + 1));
  c.tensors.push_back(per_row_scale(t) ? input("scale", DType::F32, {N}, uniform(N, seed + 2, 0.001f, 0.02f))
                                        : CaseTensor{"scale", DType::F32, {1}, {}, false, 0});
  c.tensors.push_back(bias ? input("bias", DType::F32, {N}, uniform(N, seed + 3))
                           : CaseTensor{"bias", DType::F32, {1}, {}, false, 0});
  c.tensors.push_back(output("out", {n, N}, guard));
  c.flops = 2.0 * double(n * N * K);
  c.bytes = double(N) * double(dtype_row_bytes(t, K)) + 4.0 * double(n * (K + N));
  c.launch = [t, bias](Backend& be, const std::vector<Tensor>& v) {
    Weight w{v[1], per_row_scale(t) ? v[2] : Tensor{}, bias ? v[3] : Tensor{}};
    be.matmul(v[0], w, v[4]);
  };
  return c;
}

void add_matmul_cases(std::vector<OpCase>& cases) {
  const DType all[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_C,
                       DType::Q4_C, DType::Q8_0, DType::Q4_0};
  for (DType t : all) {
    cases.push_back(matmul_case(t, 1, 29, 37, false, 0, "odd"));
    cases.push_back(matmul_case(t, 3, 33, 65, true, 3, "odd"));
    cases.push_back(matmul_case(t, 17, 50, 1, false, 0, "K=1"));
    cases.push_back(matmul_case(t, 1, 1536, 48, true, 0, "mamba-130m dt_proj"));
    cases.push_back(matmul_case(t, 1, 3072, 768, false, 0, "mamba-130m in_proj"));
    cases.push_back(matmul_case(t, 1, 80, 1536, false, 0, "mamba-130m x_proj"));
    cases.push_back(matmul_case(t, 1, 768, 1536, false, 0, "mamba-130m out_proj"));
    cases.push_back(matmul_case(t, 1, 2048, 4096, false, 0, "mamba-1.4b out_proj"));
    cases.push_back(matmul_case(t, 1, 8960, 1600, false, 0, "hymba-1.5b in_proj"));
    cases.push_back(matmul_case(t, 64, 768, 1536, false, 0, "mamba-130m out_proj prefill"));
  }
  cases.push_back(matmul_case(DType::F16, 1, 50280, 768, false, 0, "mamba-130m lm_head"));
  for (DType t : {DType::F16, DType::Q4_C, DType::Q4_0})  // the Vulkan Q4 vs F16 GEMV table
    cases.push_back(matmul_case(t, 1, 8192, 2048, false, 0, "mamba-1.4b in_proj"));
  cases.push_back(matmul_case(DType::BF16, 1, 1600, 5504, false, 0, "hymba-1.5b down_proj"));
  cases.push_back(matmul_case(DType::F16, 128, 3072, 768, false, 5, "mamba-130m in_proj prefill"));
  // Beyond lavapipe's 128 MiB maxStorageBufferRange: the tied F32 lm_head (154 MB, the
  // launcher binds it in row chunks), and a prefill's strided lm_head output (137 MB, bound
  // per block of rows).
  cases.push_back(matmul_case(DType::F32, 1, 50280, 768, false, 0, "mamba-130m lm_head, weight > one binding"));
  cases.push_back(matmul_case(DType::F32, 6, 50280, 768, false, 0, "mamba-130m lm_head, weight > one binding"));
  cases.push_back(matmul_case(DType::F16, 680, 50280, 4, true, 100, "output > one binding"));
}

// ---- small ops ----------------------------------------------------------------------------

void add_embed_cases(std::vector<OpCase>& cases) {
  struct S { int64_t V, H; std::vector<int32_t> ids; int64_t guard; const char* what; };
  const S shapes[] = {{50, 37, {0, 49, 3, 3, 17, 1, 48}, 2, "odd"},
                      {50280, 768, {0, 50279, 25000, 7}, 0, "mamba-130m"},
                      {32001, 1600, {1, 32000, 5}, 0, "hymba-1.5b"}};
  for (DType t : {DType::F32, DType::F16, DType::BF16})
    for (const S& s : shapes) {
      OpCase c{"embed", fmt::format("{} V={} H={} n={} table={}", s.what, s.V, s.H, s.ids.size(), dtype_name(t)),
               0, "a gather: exact"};
      const int64_t n = int64_t(s.ids.size());
      c.tensors.push_back(input("table", t, {s.V, s.H}, uniform(s.V * s.H, uint64_t(s.V + s.H))));
      c.tensors.push_back({"ids", DType::I32, {n}, encode_ids(s.ids), false, 0});
      c.tensors.push_back(output("out", {n, s.H}, s.guard));
      c.bytes = double(n * s.H) * (dtype_size(t) + 4);
      c.launch = [](Backend& be, const std::vector<Tensor>& v) { be.embed(Weight{v[0]}, v[1], v[2]); };
      cases.push_back(std::move(c));
    }
  // A quantised (tied) embedding: rows dequantised, scale · q rounded once on both sides.
  for (DType t : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0})
    for (const S& s : {shapes[0], shapes[1]}) {
      OpCase c{"embed", fmt::format("{} V={} H={} n={} table={}", s.what, s.V, s.H, s.ids.size(), dtype_name(t)),
               0, "a gather of scale · q, one fp32 rounding on both sides: exact"};
      const int64_t n = int64_t(s.ids.size());
      const uint64_t seed = uint64_t(s.V + s.H + int(t));
      c.tensors.push_back(weight_tensor(t, s.V, s.H, seed));
      c.tensors.push_back({"ids", DType::I32, {n}, encode_ids(s.ids), false, 0});
      c.tensors.push_back(per_row_scale(t) ? input("scale", DType::F32, {s.V}, uniform(s.V, seed + 2, 0.001f, 0.02f))
                                            : CaseTensor{"scale", DType::F32, {1}, {}, false, 0});
      c.tensors.push_back(output("out", {n, s.H}, s.guard));
      c.bytes = double(n) * (double(dtype_row_bytes(t, s.H)) + 4.0 * double(s.H));
      c.launch = [t](Backend& be, const std::vector<Tensor>& v) {
        be.embed(Weight{v[0], per_row_scale(t) ? v[2] : Tensor{}}, v[1], v[3]);
      };
      cases.push_back(std::move(c));
    }
}

void add_norm_cases(std::vector<OpCase>& cases) {
  struct S { int64_t n, H, guard; const char* what; };
  const S shapes[] = {{5, 37, 3, "odd"}, {1, 768, 0, "mamba-130m decode"},
                      {33, 1000, 0, "odd"}, {64, 2048, 1, "mamba-1.4b prefill"},
                      {1, 1600, 0, "hymba-1.5b decode"}};
  for (const S& s : shapes) {
    const uint64_t seed = uint64_t(s.n * 1000 + s.H);
    const std::string params = fmt::format("{} n={} H={}{}", s.what, s.n, s.H, s.guard ? " strided" : "");
    OpCase c{"rms_norm", params, kFp32, kFp32Why};
    c.tensors.push_back(input("x", DType::F32, {s.n, s.H}, uniform(s.n * s.H, seed), s.guard));
    c.tensors.push_back(input("w", DType::F32, {s.H}, uniform(s.H, seed + 1, 0.5f, 1.5f)));
    c.tensors.push_back(output("out", {s.n, s.H}, s.guard));
    c.bytes = 8.0 * double(s.n * s.H);
    c.launch = [](Backend& be, const std::vector<Tensor>& v) { be.rms_norm(v[0], v[1], 1e-5f, v[2]); };
    cases.push_back(std::move(c));

    OpCase a{"add_rms_norm", params, kFp32, kFp32Why};
    CaseTensor residual = input("residual", DType::F32, {s.n, s.H}, uniform(s.n * s.H, seed + 2), s.guard);
    residual.output = true;  // updated in place: residual += delta
    a.tensors.push_back(std::move(residual));
    a.tensors.push_back(input("delta", DType::F32, {s.n, s.H}, uniform(s.n * s.H, seed + 3)));
    a.tensors.push_back(input("w", DType::F32, {s.H}, uniform(s.H, seed + 4, 0.5f, 1.5f)));
    a.tensors.push_back(output("out", {s.n, s.H}, s.guard));
    a.bytes = 16.0 * double(s.n * s.H);
    a.launches = 2;  // the second call adds delta to the first's residual
    a.launch = [](Backend& be, const std::vector<Tensor>& v) { be.add_rms_norm(v[0], v[1], v[2], 1e-5f, v[3]); };
    cases.push_back(std::move(a));
  }
}

void add_elementwise_cases(std::vector<OpCase>& cases) {
  struct S { int64_t n, H, guard; };
  for (S s : {S{7, 33, 2}, S{1, 768, 0}, S{64, 1536, 0}}) {
    const uint64_t seed = uint64_t(s.n * 77 + s.H);
    const std::string params = fmt::format("n={} H={}{}", s.n, s.H, s.guard ? " strided" : "");
    OpCase c{"add", params, 0, "one fp32 add: exact"};
    c.tensors.push_back(input("a", DType::F32, {s.n, s.H}, uniform(s.n * s.H, seed), s.guard));
    c.tensors.push_back(input("b", DType::F32, {s.n, s.H}, uniform(s.n * s.H, seed + 1)));
    c.tensors.push_back(output("out", {s.n, s.H}, s.guard));
    c.bytes = 12.0 * double(s.n * s.H);
    c.launch = [](Backend& be, const std::vector<Tensor>& v) { be.add(v[0], v[1], v[2]); };
    cases.push_back(std::move(c));

    OpCase k{"copy", params, 0, "a copy: exact"};
    k.tensors.push_back(input("src", DType::F32, {s.n, s.H}, uniform(s.n * s.H, seed + 2), s.guard));
    k.tensors.push_back(output("dst", {s.n, s.H}, s.guard + 1));
    k.bytes = 8.0 * double(s.n * s.H);
    k.launch = [](Backend& be, const std::vector<Tensor>& v) { be.copy(v[0], v[1]); };
    cases.push_back(std::move(k));
  }
}

// ---- sequence ops -------------------------------------------------------------------------

void add_conv_cases(std::vector<OpCase>& cases) {
  struct S { int64_t B, T, C, K; const char* what; bool bias = true, silu = true; };
  const S shapes[] = {{2, 5, 37, 4, "odd"}, {3, 2, 100, 4, "T < K-1"}, {1, 1, 1536, 4, "mamba-130m decode"},
                      {1, 64, 1536, 4, "mamba-130m prefill"}, {2, 1, 4096, 4, "mamba-1.4b decode"},
                      {1, 1, 1792, 4, "mamba2-130m decode"}, {1, 33, 3200, 4, "hymba-1.5b prefill"},
                      {3, 2, 29, 4, "no bias, no silu", false, false}, {1, 5, 16, 3, "K=3"}};
  for (const S& s : shapes) {
    const uint64_t seed = uint64_t(s.B * 11 + s.T * 101 + s.C);
    OpCase c{"conv1d_causal", fmt::format("{} B={} T={} C={} K={}", s.what, s.B, s.T, s.C, s.K), kFp32, kFp32Why};
    const bool bias = s.bias, silu = s.silu;
    const int64_t rows = s.B * s.T;
    c.tensors.push_back(input("x", DType::F32, {rows, s.C}, uniform(rows * s.C, seed), 3));  // a column slice, as of in_proj's output
    c.tensors.push_back(input("weight", DType::F32, {s.C, s.K}, uniform(s.C * s.K, seed + 1, -0.5f, 0.5f)));
    c.tensors.push_back(input("bias", DType::F32, {s.C}, uniform(s.C, seed + 2)));
    CaseTensor state = input("state", DType::F32, {s.B, s.K - 1, s.C}, uniform(s.B * (s.K - 1) * s.C, seed + 3));
    state.output = true;
    c.tensors.push_back(std::move(state));
    c.tensors.push_back(output("out", {rows, s.C}));
    c.bytes = 4.0 * double(2 * rows * s.C + s.C * s.K + 2 * s.B * (s.K - 1) * s.C);
    c.flops = 2.0 * double(rows * s.C * s.K);
    c.launches = 2;  // the second call continues from the state the first left
    const int64_t B = s.B, T = s.T;
    c.launch = [B, T, bias, silu](Backend& be, const std::vector<Tensor>& v) {
      be.conv1d_causal(Conv1dArgs{v[0], v[1], bias ? v[2] : Tensor{}, v[3], v[4], B, T, silu});
    };
    cases.push_back(std::move(c));
  }
}

void add_scan_cases(std::vector<OpCase>& cases) {
  struct S { int64_t B, T, I, N; bool gate; const char* what; bool softplus = true; };
  const S shapes[] = {{2, 33, 37, 5, true, "odd"}, {1, 7, 19, 16, false, "odd, no gate, no D"},
                      {1, 1, 1536, 16, true, "mamba-130m decode"}, {1, 64, 1536, 16, true, "mamba-130m prefill"},
                      {2, 1, 4096, 16, true, "mamba-1.4b decode"}, {1, 1, 3200, 16, true, "hymba-1.5b decode"},
                      {1, 9, 40, 8, true, "delta used as is", false},
                      {3, 1, 45, 16, false, "decode, odd, no gate, no D"}, {2, 1, 24, 8, true, "decode, delta used as is", false},
                      {1, 1, 20, 5, true, "decode, odd N"}};
  for (const S& s : shapes) {
    const uint64_t seed = uint64_t(s.B * 13 + s.T * 1009 + s.I * 7 + s.N);
    const int64_t rows = s.B * s.T, P = 8 + 2 * s.N;  // B and C are slices of x_proj's output
    OpCase c{"ssm_scan", fmt::format("{} B={} T={} I={} N={}", s.what, s.B, s.T, s.I, s.N), kFp32, kFp32Why};
    // (Δ pre-softplus in [-4, 2) with some above 20, where softplus is the identity.)
    c.tensors.push_back(input("u", DType::F32, {rows, s.I}, uniform(rows * s.I, seed)));
    std::vector<float> delta = uniform(rows * s.I, seed + 1, -4.f, 2.f);
    for (size_t i = 0; i < delta.size(); i += 97) delta[i] = 21.f + float(i % 5);  // above softplus's threshold 20
    if (!s.softplus) for (float& d : delta) d = std::abs(d) * 0.05f;
    c.tensors.push_back(input("delta", DType::F32, {rows, s.I}, delta));
    std::vector<float> A = uniform(s.I * s.N, seed + 2, 0.f, 2.8f);  // A = -exp(A_log), A_log ∈ [0, log 16]
    for (float& a : A) a = -std::exp(a);
    c.tensors.push_back(input("A", DType::F32, {s.I, s.N}, A));
    const std::vector<float> xdbc = uniform(rows * P, seed + 3);
    c.tensors.push_back(input("xdbc", DType::F32, {rows, P}, xdbc));
    c.tensors.push_back(input("D", DType::F32, {s.I}, uniform(s.I, seed + 4)));
    c.tensors.push_back(input("z", DType::F32, {rows, s.I}, uniform(rows * s.I, seed + 5), 2));
    CaseTensor state = input("state", DType::F32, {s.B, s.I, s.N}, uniform(s.B * s.I * s.N, seed + 6, -0.5f, 0.5f));
    state.output = true;
    c.tensors.push_back(std::move(state));
    c.tensors.push_back(output("out", {rows, s.I}, 1));
    c.bytes = 4.0 * double(rows * (4 * s.I + 2 * s.N) + 3 * s.B * s.I * s.N);
    c.flops = 8.0 * double(rows * s.I * s.N);
    c.launches = 2;  // the second call continues from the state the first left
    const int64_t B = s.B, T = s.T, N = s.N;
    const bool gate = s.gate, softplus = s.softplus;
    c.launch = [B, T, N, gate, softplus](Backend& be, const std::vector<Tensor>& v) {
      SsmScanArgs a;
      a.u = v[0];
      a.delta = v[1];
      a.A = v[2];
      a.B = v[3].slice_cols(8, N);
      a.C = v[3].slice_cols(8 + N, N);
      if (gate) {
        a.D = v[4];
        a.z = v[5];
      }
      a.state = v[6];
      a.out = v[7];
      a.batch = B;
      a.seqlen = T;
      a.delta_softplus = softplus;
      be.ssm_scan(a);
    };
    cases.push_back(std::move(c));
  }
}

}  // namespace

std::vector<OpCase> mamba_cases() {
  std::vector<OpCase> cases;
  add_embed_cases(cases);
  add_norm_cases(cases);
  add_matmul_cases(cases);
  add_conv_cases(cases);
  add_scan_cases(cases);
  add_elementwise_cases(cases);
  return cases;
}

}  // namespace kllens::check
