// Per-op benchmarks on both backends, driven by the kernel checker's case list
// (kllens::check::all_cases, include/kllens/check.h): one benchmark per (case × backend),
// launching the production op through the Backend interface exactly as check-kernels does,
// so a shape benchmarked is a shape checked.
//
// Names: <op>/<backend>/<params with spaces as _>, e.g.
//   matmul/vulkan/mamba-130m_in_proj_n=1_N=3072_K=768_w=Q8_C
// Cases: those with a real model's shape (their params name mamba… or hymba…), except
// quantize_weight, whose checker case times an identity product (the comparison) more
// than the quantiser; set KLLENS_BENCH_ALL_CASES=1 for every case. Building the list takes
// a few seconds at start-up (it holds the inputs of every case).
//
// Timing: an iteration is kLaunches launches and one sync (one submission on Vulkan, so
// submit latency is shared by kLaunches launches); the time reported is per launch. A case
// whose first (warm-up) launch took over kSlowSeconds reports that launch alone: on lavapipe
// Hymba's 1300-token attention prefill runs about a minute, and a full run must stay short.
// bytes_per_second comes from OpCase::bytes (what a launch must move at least), FLOP/s from
// OpCase::flops. Compare GEMV bytes/s with BM_MemoryReadBandwidth and copy/<backend>/
// bandwidth (bench_memory_bandwidth.cpp) from the same run.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_backends.h"
#include "kllens/check.h"

namespace kllens::bench {
namespace {

constexpr int kLaunches = 4;
constexpr double kSlowSeconds = 1.0;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The case's tensors, contiguous (the checker's guard rows and columns are for correctness).
std::vector<Tensor> place(Backend& be, const check::OpCase& c) {
  std::vector<Tensor> views;
  for (const check::CaseTensor& ct : c.tensors) {
    Tensor t = be.alloc(ct.dtype, ct.shape.empty() ? Shape{1} : ct.shape);
    if (ct.data.empty()) be.fill_zero(t);
    else be.upload(t, ct.data.data());
    views.push_back(t);
  }
  be.sync();
  return views;
}

void run_case(benchmark::State& state, const check::OpCase* c, Backend* be) {
  const std::vector<Tensor> v = place(*be, *c);
  const auto t0 = std::chrono::steady_clock::now();
  c->launch(*be, v);  // warm-up: pipelines, caches, first-touch
  be->sync();
  const double first = seconds_since(t0);
  for (auto _ : state) {
    if (first > kSlowSeconds) {  // one iteration (it is over min_time): the warm-up's time
      state.SetIterationTime(first);
      continue;
    }
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < kLaunches; ++i) c->launch(*be, v);
    be->sync();
    state.SetIterationTime(seconds_since(t1) / kLaunches);
  }
  state.SetBytesProcessed(int64_t(double(state.iterations()) * c->bytes));
  if (c->flops > 0)
    state.counters["FLOP/s"] = benchmark::Counter(c->flops, benchmark::Counter::kIsIterationInvariantRate);
}

bool real_shape(const check::OpCase& c) {
  return c.params.find("mamba") != std::string::npos || c.params.find("hymba") != std::string::npos;
}

std::string bench_name(const check::OpCase& c, const std::string& backend) {
  std::string p = c.params;
  for (char& ch : p)
    if (ch == ' ') ch = '_';
  return c.op + "/" + backend + "/" + p;
}

// The cases live as long as the process: benchmarks point into this list.
const std::vector<check::OpCase>& cases() {
  static const std::vector<check::OpCase> list = [] {
    const char* all = std::getenv("KLLENS_BENCH_ALL_CASES");
    std::vector<check::OpCase> out;
    for (check::OpCase& c : check::all_cases())
      if ((all && *all && *all != '0') || (real_shape(c) && c.op != "quantize_weight")) out.push_back(std::move(c));
    return out;
  }();
  return list;
}

const bool kRegistered = [] {
  for (const NamedBackend& b : backends())
    for (const check::OpCase& c : cases())
      benchmark::RegisterBenchmark(bench_name(c, b.name).c_str(), run_case, &c, b.backend)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.05);
  return true;
}();

}  // namespace
}  // namespace kllens::bench
