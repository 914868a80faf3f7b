// gemv_stream: the production decode GEMV (Backend::matmul, fast mode, n = 1) over many
// distinct weights in turn, as a decode step reads its layers: every matrix comes cold
// from DRAM. Per type, the matrix size varies at a fixed total stream (kStreamBytes, many
// times any last-level cache), so the number of calls per pass varies and the per-call
// cost separates from the per-byte one:
//   seconds per pass = bytes / B∞ + calls · c
// `of_probe` is the pass's weight bytes per second over the host read probe
// (measure_read_bandwidth, the roofline `kllens bench` reports), measured in the same
// process just before the case; `us_per_call` is the pass time over its calls.
//
// Names: gemv_stream/cpu/<type>_N=<rows>_K=<K>_calls=<matrices per pass>. The weights are
// imported as a model's are (Backend::import_host), so quantised ones run on the packed
// copy (src/cpu/matmul_q8act_pack.h). CPU only: the question it answers is why the CPU
// decode GEMVs stream below the probe (docs/performance.md).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_backends.h"
#include "check/cases.h"
#include "kllens/bandwidth.h"

namespace kllens::bench {
namespace {

constexpr size_t kStreamBytes = size_t(256) << 20;  // ≥ 8× the L3 of the machines measured
constexpr int64_t kK = 2048;                         // mamba-1.4b's d_model

bool per_row_scale(DType t) { return t == DType::Q8_C || t == DType::Q4_C; }

struct Matrices {
  std::vector<Weight> w;
  Tensor x, out;
  double bytes = 0;  // weight bytes (codes and scales) of one pass
};

// `calls` imported copies of one random [N, K] weight of type t, each in its own buffer.
Matrices make(Backend& be, DType t, int64_t N, int64_t calls) {
  Matrices m;
  const check::CaseTensor ct = check::weight_tensor(t, N, kK, 7);
  const size_t row = dtype_row_bytes(t, kK);
  for (int64_t i = 0; i < calls; ++i) {
    auto bytes = std::make_shared<std::vector<uint8_t>>(ct.data);
    Weight w{be.import_host(bytes, bytes->data(), t, {N, kK}), Tensor{}, Tensor{}};
    if (per_row_scale(t)) {
      w.scale = be.alloc(DType::F32, {N});
      std::vector<float> s(size_t(N), 0.01f);
      be.upload(w.scale, s.data());
    }
    m.w.push_back(w);
  }
  m.bytes = double(calls) * (double(N) * double(row) + (per_row_scale(t) ? 4.0 * double(N) : 0.0));
  m.x = be.alloc(DType::F32, {1, kK});
  std::vector<float> x(static_cast<size_t>(kK));
  for (int64_t k = 0; k < kK; ++k) x[size_t(k)] = float((k * 37) % 101) / 101.0f - 0.5f;
  be.upload(m.x, x.data());
  m.out = be.alloc(DType::F32, {1, N});
  return m;
}

void gemv_stream(benchmark::State& state, Backend* be, DType t, int64_t N, int64_t calls) {
  const MatmulMode before = be->matmul_mode();
  be->set_matmul_mode(MatmulMode::fast);
  {
    const Matrices m = make(*be, t, N, calls);
    for (const Weight& w : m.w) be->matmul(m.x, w, m.out);  // warm-up: packing, first touch
    be->sync();
    const double probe = measure_read_bandwidth(kStreamBytes, 3) * 1e9;
    double seconds = 0;
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      for (const Weight& w : m.w) be->matmul(m.x, w, m.out);
      be->sync();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      state.SetIterationTime(s);
      seconds += s;
    }
    const double per_pass = seconds / double(state.iterations());
    state.SetBytesProcessed(int64_t(double(state.iterations()) * m.bytes));
    state.counters["of_probe"] = m.bytes / per_pass / probe;
    state.counters["probe_GB/s"] = probe / 1e9;
    state.counters["us_per_call"] = per_pass / double(calls) * 1e6;
  }
  be->set_matmul_mode(before);
}

const bool kRegistered = [] {
  Backend* cpu = backends().front().backend;
  for (DType t : {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q8_C, DType::Q4_C}) {
    const double row = double(dtype_row_bytes(t, kK));
    for (size_t size : {size_t(256) << 10, size_t(1) << 20, size_t(4) << 20, size_t(16) << 20, size_t(64) << 20}) {
      const int64_t N = std::max<int64_t>(16, int64_t(double(size) / row) / 16 * 16);
      const int64_t calls = int64_t((double(kStreamBytes) + double(N) * row - 1) / (double(N) * row));
      const std::string name = "gemv_stream/cpu/" + std::string(dtype_name(t)) + "_N=" + std::to_string(N) +
                               "_K=" + std::to_string(kK) + "_calls=" + std::to_string(calls);
      benchmark::RegisterBenchmark(name.c_str(), gemv_stream, cpu, t, N, calls)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.2);
    }
  }
  return true;
}();

}  // namespace
}  // namespace kllens::bench
