// Checker cases of the KL lens's and sampling's ops: kl_reduce (the fused per-token KL / CE /
// MSE / top-1 reduction), argmax, topk, and quantize_weight (on-device symmetric abs-max
// quantisation).
// Shapes: tiny and odd ones and the real vocabularies (mamba 50280, Hymba 32001) and
// weights (mamba-130m in/x/dt_proj, Hymba-1.5B out_proj rows).
//
// Bounds. kl_reduce: the CPU sums in fp64, the GPU in fp32 with a cancellation-free KL
// form; the [n, 8] output's NMSE is dominated by the Σzt² and Σ(zs−zt)² columns (fp32 tree
// sums of 5e4 terms: relative ≲ 1e-6), so 1e-7 holds with margin; the KL columns alone
// agree to ≲ 1e-5 relative (tests/test_vulkan_lens_ops.cpp checks them per column).
// argmax and topk: I32 indices exact, topk's values are copies of inputs: bound 0.
// quantize_weight: the compared output is the dequantised weight
// (identity x [K, K] times the quantised W), which must be bit-identical: bound 0.
#include <fmt/format.h>

#include <cmath>

#include "check/cases.h"

namespace kllens::check {

namespace {

// Teacher logits ~ N(0, sd²); student = teacher + shift + noise·N(0, 1), with some rows'
// top-1 flipped. Returns {teacher, student}.
std::pair<std::vector<float>, std::vector<float>> logits(int64_t n, int64_t V, float noise, float shift,
                                                         uint64_t seed) {
  const std::vector<float> a = normal(n * V, seed), e = normal(n * V, seed + 1);
  std::vector<float> t(size_t(n * V)), s(size_t(n * V));
  for (int64_t r = 0; r < n; ++r) {
    const float sd = r % 3 == 0 ? 6.f : 2.5f;
    for (int64_t v = 0; v < V; ++v) {
      const size_t i = size_t(r * V + v);
      t[i] = sd * a[i];
      s[i] = t[i] + shift + noise * e[i];
    }
    if (r % 4 == 1) s[size_t(r * V + (r * 7919) % V)] += 40.f;
  }
  return {t, s};
}

void add_kl_cases(std::vector<OpCase>& cases) {
  struct S { int64_t n, V; float noise, shift; int64_t guard; const char* what; };
  const S shapes[] = {{1, 1, 0.1f, 0.f, 0, "one-word vocabulary"},
                      {3, 37, 0.1f, 0.5f, 2, "odd"},
                      {6, 1000, 1e-3f, 0.f, 0, "8-bit-like noise"},
                      {8, 50280, 1e-3f, 2.f, 0, "mamba vocabulary, 8-bit-like"},
                      {4, 50280, 0.3f, 0.f, 3, "mamba vocabulary, 4-bit-like"},
                      {8, 32001, 1e-2f, -1.f, 0, "hymba vocabulary"},
                      {2, 32001, 3.f, 0.f, 0, "hymba vocabulary, unrelated"}};
  for (const S& s : shapes) {
    OpCase c{"kl_reduce", fmt::format("{} n={} V={} noise={}", s.what, s.n, s.V, s.noise), 1e-7,
             "fp32 (GPU) vs fp64 (CPU) sums; NMSE dominated by the Σzt² column, relative ≲ 1e-6"};
    const auto [t, st] = logits(s.n, s.V, s.noise, s.shift, uint64_t(s.n * 1000 + s.V));
    c.tensors.push_back(input("teacher", DType::F32, {s.n, s.V}, t, s.guard));
    c.tensors.push_back(input("student", DType::F32, {s.n, s.V}, st, s.guard ? 1 : 0));
    std::vector<int32_t> ids(static_cast<size_t>(s.n));
    for (int64_t r = 0; r < s.n; ++r) ids[size_t(r)] = r % 5 == 2 ? -1 : int32_t((r * 104729) % s.V);
    c.tensors.push_back({"targets", DType::I32, {s.n}, encode_ids(ids), false, 0});
    c.tensors.push_back(output("out", {s.n, kKlStats}, s.guard ? 1 : 0));
    c.flops = 20.0 * double(s.n * s.V);
    c.bytes = 8.0 * double(s.n * s.V);
    c.launch = [](Backend& be, const std::vector<Tensor>& v) { be.kl_reduce(v[0], v[1], v[2], v[3]); };
    cases.push_back(std::move(c));
  }
}

void add_argmax_cases(std::vector<OpCase>& cases) {
  struct S { int64_t n, V, guard; const char* what; };
  for (const S& s : {S{7, 129, 3, "odd, ties"}, S{3, 1, 0, "one column"}, S{1, 50280, 0, "mamba decode"},
                     S{16, 50280, 0, "mamba batch"}, S{4, 32001, 1, "hymba"}}) {
    OpCase c{"argmax", fmt::format("{} n={} V={}", s.what, s.n, s.V), 0, "indices: exact"};
    std::vector<float> x = uniform(s.n * s.V, uint64_t(s.n * 31 + s.V), -10.f, 10.f);
    for (int64_t r = 0; r < s.n; r += 2)  // ties: the first index of the maximum must win
      if (s.V > 3) x[size_t(r * s.V + s.V - 1)] = x[size_t(r * s.V + s.V / 3)] = x[size_t(r * s.V + s.V / 2)] = 11.f;
    c.tensors.push_back(input("logits", DType::F32, {s.n, s.V}, x, s.guard));
    c.tensors.push_back({"out", DType::I32, {s.n}, {}, true, 0});
    c.bytes = 4.0 * double(s.n * s.V);
    c.launch = [](Backend& be, const std::vector<Tensor>& v) { be.argmax(v[0], v[1]); };
    cases.push_back(std::move(c));
  }
}

void add_topk_cases(std::vector<OpCase>& cases) {
  struct S { int64_t n, V, guard; bool coarse; const char* what; };
  const S shapes[] = {{2, 7, 0, false, "tiny"},
                      {5, 129, 3, false, "odd, ties"},
                      {1, 50280, 0, false, "mamba decode"},
                      {4, 50280, 1, false, "mamba batch"},
                      {2, 50280, 0, true, "mamba, coarse grid (ties)"},
                      {3, 32001, 2, false, "hymba"}};
  for (const S& s : shapes) {
    // Rows shorter than 50 take k = 1 and k = V (every column: a full sort).
    const std::vector<int64_t> ks = s.V >= 50 ? std::vector<int64_t>{1, 8, 40, 50} : std::vector<int64_t>{1, s.V};
    for (int64_t k : ks) {
      OpCase c{"topk", fmt::format("{} n={} V={} k={}", s.what, s.n, s.V, k), 0,
               "indices exact; values are copies of the inputs"};
      std::vector<float> x = uniform(s.n * s.V, uint64_t(s.n * 131 + s.V * 7 + k), -10.f, 10.f);
      if (s.coarse)  // 81 levels over 5e4 columns: the k best are all ties of the top level
        for (float& v : x) v = std::round(v * 4.f) / 4.f;
      for (int64_t r = 0; r < s.n; r += 2)  // ties at the top: the lower index ranks first
        if (s.V > 3) x[size_t(r * s.V + s.V - 1)] = x[size_t(r * s.V + s.V / 3)] = x[size_t(r * s.V + s.V / 2)] = 11.f;
      c.tensors.push_back(input("logits", DType::F32, {s.n, s.V}, x, s.guard));
      c.tensors.push_back(output("values", {s.n, k}));
      c.tensors.push_back({"indices", DType::I32, {s.n, k}, {}, true, 0});
      c.bytes = 4.0 * double(s.n * s.V) + 8.0 * double(s.n * k);
      c.launch = [](Backend& be, const std::vector<Tensor>& v) { be.topk(v[0], v[1], v[2]); };
      cases.push_back(std::move(c));
    }
  }
}

void add_quantize_cases(std::vector<OpCase>& cases) {
  struct S { int64_t N, K, guard; const char* what; };
  const S shapes[] = {{5, 37, 2, "odd"}, {7, 33, 0, "one full block + 1"}, {1536, 48, 0, "mamba-130m dt_proj"},
                      {80, 768, 0, "mamba-130m x_proj rows"}, {64, 1536, 0, "mamba-130m out_proj rows"},
                      {32, 3200, 0, "hymba-1.5b out_proj rows"}};
  for (DType type : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0})
    for (DType src : {DType::F32, DType::F16, DType::BF16})
      for (const S& s : shapes) {
        if (src != DType::F32 && s.K > 768) continue;  // keep the identity products small
        OpCase c{"quantize_weight", fmt::format("{} N={} K={} {} -> {}", s.what, s.N, s.K, dtype_name(src), dtype_name(type)),
                 0, "identical quantised bytes, dequantised exactly by an identity product"};
        const uint64_t seed = uint64_t(s.N * 1000 + s.K + int(type) * 7 + int(src));
        c.tensors.push_back(input("w", src, {s.N, s.K}, uniform(s.N * s.K, seed, -0.2f, 0.2f), s.guard));
        std::vector<float> eye(size_t(s.K * s.K), 0.f);
        for (int64_t k = 0; k < s.K; ++k) eye[size_t(k * s.K + k)] = 1.f;
        c.tensors.push_back(input("identity", DType::F32, {s.K, s.K}, eye));
        c.tensors.push_back(output("dequantised_wT", {s.K, s.N}, s.guard));
        c.flops = 4.0 * double(s.N * s.K);
        c.bytes = double(s.N * s.K) * (double(dtype_size(src)) + 1.0);
        c.launch = [type](Backend& be, const std::vector<Tensor>& v) {
          const Weight q = be.quantize_weight(Weight{v[0], {}, {}}, type);
          be.matmul(v[1], q, v[2]);
        };
        cases.push_back(std::move(c));
      }
}

}  // namespace

std::vector<OpCase> lens_cases() {
  std::vector<OpCase> cases;
  add_kl_cases(cases);
  add_argmax_cases(cases);
  add_topk_cases(cases);
  add_quantize_cases(cases);
  return cases;
}

}  // namespace kllens::check
