// Checker cases of the Mamba-2 and Hymba ops: ssd_scan (chunked prefill and decode step),
// rms_norm_gated, rope, attention (causal, GQA with v head ≠ q/k head, sliding window with
// meta prefix, ring caches, KV reuse) and silu_mul. Shapes: tiny and odd ones (not multiples
// of any workgroup or tile size) and the real ones of mamba2-130m (nh 24, P 64, N 128, G 1,
// chunk 256, I 1536) and Hymba-1.5B (25 q heads, 5 kv heads, head 64, v head 128,
// window 1024, 128 meta tokens, I 5504 MLP).
//
// Bounds: 1e-7 NMSE everywhere: both backends compute in fp32; they differ only in the
// order of fp32 sums (tree reductions, attention's online softmax over key tiles, the
// chunked SSD's decay factors exp(Â_l − Â_s) against the CPU's masked cumsums) and in
// exp/log/sin/cos ulps — relative errors ≲ 1e-5, observed NMSE ≲ 1e-12 on lavapipe.
#include <fmt/format.h>

#include <cmath>

#include "check/cases.h"

namespace kllens::check {

namespace {

constexpr double kFp32 = 1e-7;
const char* kFp32Why = "fp32 math on both sides; only summation order and exp/log ulps differ";
const char* kSsdWhy =
    "fp32 on both sides; the GPU's chunked SSD uses exp(Â_l − Â_s) where the CPU sums masked "
    "cumsums or recurs: rounding only (relative ≲ 1e-5)";
const char* kAttnWhy =
    "fp32 on both sides; online softmax over key tiles vs one softmax per query: rounding only";

// ---- ssd_scan -----------------------------------------------------------------------------

struct Ssd { int64_t B, T, nh, P, N, G, chunk; int64_t guard; bool D; const char* what; };

OpCase ssd_case(const Ssd& s) {
  const int64_t rows = s.B * s.T, I = s.nh * s.P, GN = s.G * s.N;
  OpCase c{"ssd_scan",
           fmt::format("{} B={} T={} nh={} P={} N={} G={} chunk={}{}", s.what, s.B, s.T, s.nh, s.P, s.N, s.G,
                       s.chunk, s.D ? "" : " no-D"),
           kFp32, kSsdWhy};
  const uint64_t seed = uint64_t(s.T * 131 + s.nh * 17 + s.P * 7 + s.N + s.chunk);
  // xBC as the conv output lays it out: x | B | C, sliced by the launch (strided views).
  c.tensors.push_back(input("xBC", DType::F32, {rows, I + 2 * GN}, uniform(rows * (I + 2 * GN), seed), s.guard));
  c.tensors.push_back(input("dt", DType::F32, {rows, s.nh}, uniform(rows * s.nh, seed + 1), 1));
  c.tensors.push_back(input("dt_bias", DType::F32, {s.nh}, uniform(s.nh, seed + 2, -4.f, -1.f)));
  std::vector<float> A = uniform(s.nh, seed + 3, 0.f, std::log(16.f));  // A = −exp(A_log)
  for (float& a : A) a = -std::exp(a);
  c.tensors.push_back(input("A", DType::F32, {s.nh}, A));
  c.tensors.push_back(input("D", DType::F32, {s.nh}, uniform(s.nh, seed + 4, 0.5f, 1.5f)));
  CaseTensor state = input("state", DType::F32, {s.B * s.nh * s.P, s.N},
                           uniform(s.B * s.nh * s.P * s.N, seed + 5, -0.5f, 0.5f));
  state.output = true;
  c.tensors.push_back(std::move(state));
  c.tensors.push_back(output("out", {rows, I}, s.guard));
  const double Q = double(std::min(s.chunk, s.T));
  c.flops = s.T == 1 ? 6.0 * double(rows * I * s.N)
                     : 2.0 * double(rows * s.nh) * (Q * (s.N + s.P) + 3.0 * double(s.P * s.N));
  c.bytes = 4.0 * double(rows * (2 * I + 2 * GN + s.nh) + 2 * s.B * I * s.N);
  c.launches = 2;  // the second call continues from the state the first left
  const Ssd sc = s;
  c.launch = [sc](Backend& be, const std::vector<Tensor>& v) {
    const int64_t xI = sc.nh * sc.P, gN = sc.G * sc.N;
    SsdScanArgs a;
    a.x = v[0].slice_cols(0, xI);
    a.B = v[0].slice_cols(xI, gN);
    a.C = v[0].slice_cols(xI + gN, gN);
    a.dt = v[1];
    a.dt_bias = v[2];
    a.A = v[3];
    if (sc.D) a.D = v[4];
    a.state = v[5];
    a.out = v[6];
    a.batch = sc.B;
    a.seqlen = sc.T;
    a.heads = sc.nh;
    a.head_dim = sc.P;
    a.groups = sc.G;
    a.state_size = sc.N;
    a.chunk = sc.chunk;
    be.ssd_scan(a);
  };
  return c;
}

void add_ssd_cases(std::vector<OpCase>& cases) {
  const Ssd shapes[] = {
      {1, 5, 2, 3, 4, 1, 2, 0, true, "tiny, chunks of 2"},
      {2, 37, 4, 8, 16, 2, 16, 3, false, "odd, groups"},
      {1, 1, 3, 5, 7, 1, 256, 1, true, "odd decode step"},
      {3, 2, 2, 16, 32, 1, 1, 0, true, "chunk 1"},
      {1, 1, 24, 64, 128, 1, 256, 0, true, "mamba2-130m decode"},
      {2, 1, 24, 64, 128, 1, 256, 0, true, "mamba2-130m decode batch 2"},
      {1, 300, 24, 64, 128, 1, 256, 0, true, "mamba2-130m prefill, 2 chunks"},
      {1, 512, 24, 64, 128, 1, 256, 0, true, "mamba2-130m prefill"},
  };
  for (const Ssd& s : shapes) cases.push_back(ssd_case(s));
}

// ---- rms_norm_gated, silu_mul ---------------------------------------------------------------

void add_gated_cases(std::vector<OpCase>& cases) {
  struct S { int64_t n, I, gs, guard; const char* what; };
  const S shapes[] = {{5, 96, 24, 3, "odd, 4 groups"}, {3, 37, 37, 0, "odd"}, {2, 1, 1, 1, "one column"},
                      {1, 1536, 1536, 0, "mamba2-130m decode"}, {64, 1536, 1536, 2, "mamba2-130m prefill"},
                      {17, 2048, 256, 0, "8 groups"}};
  for (const S& s : shapes) {
    OpCase c{"rms_norm_gated", fmt::format("{} n={} I={} group={}", s.what, s.n, s.I, s.gs), kFp32, kFp32Why};
    const uint64_t seed = uint64_t(s.n * 17 + s.I + s.gs);
    c.tensors.push_back(input("y", DType::F32, {s.n, s.I}, uniform(s.n * s.I, seed, -2.f, 2.f), s.guard));
    c.tensors.push_back(input("z", DType::F32, {s.n, s.I}, uniform(s.n * s.I, seed + 1, -4.f, 4.f), 1));
    c.tensors.push_back(input("w", DType::F32, {s.I}, uniform(s.I, seed + 2, 0.5f, 1.5f)));
    c.tensors.push_back(output("out", {s.n, s.I}, s.guard));
    c.bytes = 12.0 * double(s.n * s.I);
    const int64_t gs = s.gs;
    c.launch = [gs](Backend& be, const std::vector<Tensor>& v) { be.rms_norm_gated(v[0], v[1], v[2], gs, 1e-5f, v[3]); };
    cases.push_back(std::move(c));
  }
  struct F { int64_t n, F, guard; const char* what; };
  for (const F& s : {F{7, 37, 3, "odd"}, F{1, 1, 0, "one"}, F{1, 5504, 0, "hymba-1.5b MLP decode"},
                     F{64, 5504, 1, "hymba-1.5b MLP prefill"}}) {
    OpCase c{"silu_mul", fmt::format("{} n={} F={}", s.what, s.n, s.F), kFp32, kFp32Why};
    const uint64_t seed = uint64_t(s.n * 131 + s.F);
    c.tensors.push_back(input("gate", DType::F32, {s.n, s.F}, uniform(s.n * s.F, seed, -6.f, 6.f), s.guard));
    c.tensors.push_back(input("up", DType::F32, {s.n, s.F}, uniform(s.n * s.F, seed + 1)));
    c.tensors.push_back(output("out", {s.n, s.F}, s.guard));
    c.flops = 4.0 * double(s.n * s.F);
    c.bytes = 12.0 * double(s.n * s.F);
    c.launch = [](Backend& be, const std::vector<Tensor>& v) { be.silu_mul(v[0], v[1], v[2]); };
    cases.push_back(std::move(c));
  }
}

// ---- rope ---------------------------------------------------------------------------------

void add_rope_cases(std::vector<OpCase>& cases) {
  struct S { int64_t B, T, past, heads, hd, guard; const char* what; };
  const S shapes[] = {{2, 13, 7, 3, 8, 5, "odd, batch 2"},
                      {2, 1, 100, 1, 2, 1, "head dim 2"},
                      {1, 1, 12000, 2, 128, 0, "far position"},
                      {1, 1152, 0, 25, 64, 0, "hymba-1.5b q prefill (meta + 1024)"},
                      {1, 1, 4223, 5, 64, 0, "hymba-1.5b k decode"}};
  for (const S& s : shapes) {
    OpCase c{"rope", fmt::format("{} B={} T={} past={} heads={} hd={}", s.what, s.B, s.T, s.past, s.heads, s.hd),
             kFp32, "fp32 on both sides; sin/cos of the same fp32 angle differ by an ulp"};
    const int64_t rows = s.B * s.T, C = s.heads * s.hd;
    std::vector<float> f(size_t(s.hd / 2));  // Hymba's NTK base, HF's fp32 inv_freq
    for (int64_t k = 0; k < s.hd / 2; ++k)
      f[size_t(k)] = float(1.0 / std::pow(74534.830318, double(2 * k) / double(s.hd)));
    CaseTensor x = input("x", DType::F32, {rows, C}, uniform(rows * C, uint64_t(s.T * 7 + s.past + C)), s.guard);
    x.output = true;  // rotated in place
    c.tensors.push_back(std::move(x));
    c.tensors.push_back(input("inv_freq", DType::F32, {s.hd / 2}, f));
    c.flops = 6.0 * double(rows * C);
    c.bytes = 8.0 * double(rows * C);
    const S sc = s;
    c.launch = [sc](Backend& be, const std::vector<Tensor>& v) { be.rope(v[0], v[1], sc.B, sc.T, sc.past, sc.heads, sc.hd); };
    cases.push_back(std::move(c));
  }
}

// ---- attention ----------------------------------------------------------------------------

struct Attn { int64_t B, T, past, nh, nkv, hd, vhd, window, meta, cap, guard; int calls; const char* what; };

OpCase attention_case(const Attn& s) {
  OpCase c{"attention",
           fmt::format("{} B={} T={} past={} nh={} nkv={} hd={} vhd={} window={} meta={} cap={}{}", s.what, s.B, s.T,
                       s.past, s.nh, s.nkv, s.hd, s.vhd, s.window, s.meta, s.cap, s.calls > 1 ? " KV reuse" : ""),
           kFp32, kAttnWhy};
  const uint64_t seed = uint64_t(s.T * 7919 + s.past * 31 + s.nh * 7 + s.hd + s.window);
  const int64_t rows = s.B * s.T;
  c.tensors.push_back(input("k_cache", DType::F32, {s.B, s.cap, s.nkv * s.hd},
                            uniform(s.B * s.cap * s.nkv * s.hd, seed, -1.5f, 1.5f)));
  c.tensors.push_back(input("v_cache", DType::F32, {s.B, s.cap, s.nkv * s.vhd}, uniform(s.B * s.cap * s.nkv * s.vhd, seed + 1)));
  for (int k = 0; k < s.calls; ++k) {
    c.tensors.push_back(input(fmt::format("q{}", k), DType::F32, {rows, s.nh * s.hd},
                              uniform(rows * s.nh * s.hd, seed + 2 + uint64_t(k), -1.5f, 1.5f), s.guard));
    c.tensors.push_back(output(fmt::format("out{}", k), {rows, s.nh * s.vhd}, s.guard));
  }
  // Visible keys per query, summed over queries.
  double keys = 0;
  for (int64_t t = 0; t < s.T; ++t) {
    const int64_t i = s.past + t;
    keys += s.window == 0 ? double(i + 1) : double(std::min(i + 1, s.window + 1) + std::min(s.meta, std::max<int64_t>(0, i - s.window)));
  }
  c.flops = 2.0 * s.calls * s.B * s.nh * keys * double(s.hd + s.vhd);
  c.bytes = 4.0 * s.calls * double(rows * s.nh * (s.hd + s.vhd)) + 4.0 * s.B * s.nkv * keys / s.T * double(s.hd + s.vhd);
  const Attn sc = s;
  c.launch = [sc](Backend& be, const std::vector<Tensor>& v) {
    for (int k = 0; k < sc.calls; ++k) {
      AttentionArgs a;
      a.k_cache = v[0];
      a.v_cache = v[1];
      a.q = v[2 + 2 * size_t(k)];
      a.out = v[3 + 2 * size_t(k)];
      a.batch = sc.B;
      a.seqlen = sc.T;
      a.past = sc.past;
      a.heads = sc.nh;
      a.kv_heads = sc.nkv;
      a.head_dim = sc.hd;
      a.v_head_dim = sc.vhd;
      a.window = sc.window;
      a.meta = sc.meta;
      a.scale = float(1.0 / std::sqrt(double(sc.hd)));
      be.attention(a);
    }
  };
  return c;
}

void add_attention_cases(std::vector<OpCase>& cases) {
  const Attn shapes[] = {
      {1, 5, 0, 4, 2, 8, 12, 0, 0, 5, 0, 1, "tiny causal GQA"},
      {2, 37, 0, 6, 3, 16, 24, 10, 3, 37, 3, 1, "odd, window + meta, batch 2"},
      {1, 1, 0, 3, 1, 4, 4, 0, 0, 1, 0, 1, "one key"},
      {1, 3, 40, 4, 1, 16, 8, 0, 0, 43, 1, 1, "3 tokens after a prefix"},
      {1, 1, 100, 4, 2, 16, 32, 16, 4, 21, 0, 2, "decode on a ring"},
      {2, 5, 50, 4, 2, 16, 32, 16, 4, 25, 2, 1, "5 tokens on a ring"},
      {1, 1300, 0, 25, 5, 64, 128, 1024, 128, 1300, 0, 1, "hymba-1.5b SWA prefill past window + meta"},
      {1, 1300, 0, 25, 5, 64, 128, 0, 0, 1300, 0, 1, "hymba-1.5b global prefill"},
      {1, 1, 3000, 25, 5, 64, 128, 1024, 128, 1153, 0, 2, "hymba-1.5b SWA decode on a ring"},
      {1, 1, 2047, 25, 5, 64, 128, 0, 0, 2048, 0, 2, "hymba-1.5b global decode"},
  };
  for (const Attn& s : shapes) cases.push_back(attention_case(s));
}

}  // namespace

std::vector<OpCase> hybrid_cases() {
  std::vector<OpCase> cases;
  add_ssd_cases(cases);
  add_gated_cases(cases);
  add_rope_cases(cases);
  add_attention_cases(cases);
  return cases;
}

}  // namespace kllens::check
