// CPU kernel benchmarks through the production CpuBackend: matmul (GEMV at n = 1,
// GEMM at n = kPrefillRows) for every weight type at the real mamba shapes, and
// conv1d_causal / ssm_scan for one decode token and a 512-token prefill. Bytes/s counts
// what the kernel must move at least once (weights, activations, state); FLOP/s counts
// 2·n·N·K for matmul. Compare GEMV bytes/s with BM_MemoryReadBandwidth.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernel_shapes.h"
#include "kllens/backend.h"

namespace kllens::bench {
namespace {

// A tensor of `rows` identical rows (timing does not depend on the values, and filling
// hundreds of MiB element by element would dominate start-up).
void fill_rows(Backend& be, const Tensor& t, const std::vector<uint8_t>& row) {
  auto* p = static_cast<uint8_t*>(t.host_ptr());
  for (int64_t r = 0; r < t.rows(); ++r) std::memcpy(p + size_t(r) * row.size(), row.data(), row.size());
  be.sync();
}

Tensor random_f32(Backend& be, std::mt19937& rng, Shape shape, float lo, float hi) {
  Tensor t = be.alloc(DType::F32, shape);
  std::vector<float> v(static_cast<size_t>(t.numel()));
  std::uniform_real_distribution<float> d(lo, hi);
  for (float& f : v) f = d(rng);
  be.upload(t, v.data());
  return t;
}

// A weight [N, K] of `type` with values about ±1 (quantised: random codes, small scales).
Weight make_weight(Backend& be, DType type, int64_t N, int64_t K) {
  std::mt19937 rng(1);
  Weight w;
  w.w = be.alloc(type, {N, K});
  std::vector<uint8_t> row(w.w.row_bytes());
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  for (int64_t k = 0; k < K; ++k) {
    if (type == DType::F32) {
      const float f = val(rng);
      std::memcpy(row.data() + 4 * k, &f, 4);
    } else if (type == DType::F16 || type == DType::BF16) {
      const uint16_t h = type == DType::F16 ? f32_to_f16(val(rng)) : f32_to_bf16(val(rng));
      std::memcpy(row.data() + 2 * k, &h, 2);
    }
  }
  if (dtype_is_quantized(type)) {
    for (uint8_t& b : row) b = uint8_t(rng());
    const size_t block = type == DType::Q8_0 ? 34 : 18;
    const uint16_t d = f32_to_f16(0.01f);
    if (type == DType::Q8_0 || type == DType::Q4_0)
      for (size_t o = 0; o < row.size(); o += block) std::memcpy(row.data() + o, &d, 2);
  }
  fill_rows(be, w.w, row);
  if (type == DType::Q8_C || type == DType::Q4_C) {
    w.scale = be.alloc(DType::F32, {N});
    const std::vector<float> s(static_cast<size_t>(N), 0.01f);
    be.upload(w.scale, s.data());
  }
  return w;
}

void bench_matmul(benchmark::State& state, DType type, LinearShape s, int64_t n) {
  auto be = make_cpu_backend();
  std::mt19937 rng(2);
  const Weight w = make_weight(*be, type, s.N, s.K);
  const Tensor x = random_f32(*be, rng, {n, s.K}, -1.0f, 1.0f);
  const Tensor out = be->alloc(DType::F32, {n, s.N});
  for (auto _ : state) {
    be->matmul(x, w, out);
    be->sync();
  }
  const double bytes = double(w.w.span_bytes()) + 4.0 * double(n) * double(s.K + s.N);
  state.SetBytesProcessed(int64_t(double(state.iterations()) * bytes));
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * double(n) * double(s.N) * double(s.K),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void bench_conv1d(benchmark::State& state, ScanShape s, int64_t T) {
  auto be = make_cpu_backend();
  std::mt19937 rng(3);
  Conv1dArgs a;
  a.seqlen = T;
  a.x = random_f32(*be, rng, {T, s.I}, -2.0f, 2.0f);
  a.weight = random_f32(*be, rng, {s.I, s.K}, -1.0f, 1.0f);
  a.bias = random_f32(*be, rng, {s.I}, -1.0f, 1.0f);
  a.state = random_f32(*be, rng, {1, s.K - 1, s.I}, -1.0f, 1.0f);
  a.out = be->alloc(DType::F32, {T, s.I});
  for (auto _ : state) be->conv1d_causal(a);
  const double bytes = 4.0 * double(s.I) * double(2 * T + 2 * (s.K - 1) + s.K + 1);
  state.SetBytesProcessed(int64_t(double(state.iterations()) * bytes));
  state.SetItemsProcessed(int64_t(state.iterations()) * T * s.I);  // channel-tokens
}

void bench_ssm_scan(benchmark::State& state, ScanShape s, int64_t T) {
  auto be = make_cpu_backend();
  std::mt19937 rng(4);
  SsmScanArgs a;
  a.seqlen = T;
  a.u = random_f32(*be, rng, {T, s.I}, -3.0f, 3.0f);
  a.delta = random_f32(*be, rng, {T, s.I}, -4.0f, 2.0f);
  a.A = random_f32(*be, rng, {s.I, s.N}, -16.0f, -1.0f);
  a.B = random_f32(*be, rng, {T, s.N}, -1.0f, 1.0f);
  a.C = random_f32(*be, rng, {T, s.N}, -1.0f, 1.0f);
  a.D = random_f32(*be, rng, {s.I}, 0.5f, 1.5f);
  a.z = random_f32(*be, rng, {T, s.I}, -3.0f, 3.0f);
  a.state = random_f32(*be, rng, {1, s.I, s.N}, -1.0f, 1.0f);
  a.out = be->alloc(DType::F32, {T, s.I});
  for (auto _ : state) be->ssm_scan(a);
  const double bytes = 4.0 * (double(T) * double(4 * s.I + 2 * s.N) +
                              double(s.I) * double(3 * s.N + 1));
  state.SetBytesProcessed(int64_t(double(state.iterations()) * bytes));
  state.SetItemsProcessed(int64_t(state.iterations()) * T * s.I * s.N);  // state updates
}

// Registered at start-up from the shared shape list.
const bool kRegistered = [] {
  const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_C,
                         DType::Q4_C, DType::Q8_0, DType::Q4_0};
  for (DType type : types) {
    for (const LinearShape& s : kLinearShapes) {
      for (int64_t n : {int64_t(1), kPrefillRows}) {
        const std::string name = std::string("matmul/") + (n == 1 ? "gemv/" : "gemm/") +
                                 std::string(dtype_name(type)) + "/" + s.name;
        benchmark::RegisterBenchmark(name.c_str(), bench_matmul, type, s, n)
            ->Unit(n == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  for (const ScanShape& s : kScanShapes) {
    for (int64_t T : kScanSeqlens) {
      const std::string tag = std::string(s.name) + "/T" + std::to_string(T);
      benchmark::RegisterBenchmark(("conv1d_causal/" + tag).c_str(), bench_conv1d, s, T)
          ->Unit(benchmark::kMicrosecond)->UseRealTime();
      benchmark::RegisterBenchmark(("ssm_scan/" + tag).c_str(), bench_ssm_scan, s, T)
          ->Unit(benchmark::kMicrosecond)->UseRealTime();
    }
  }
  return true;
}();

}  // namespace
}  // namespace kllens::bench
