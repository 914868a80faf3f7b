// The kernel checker and the op benchmarks share one list of test cases (in the spirit of
// llama.cpp's test-backend-ops): each case names an op and its shape, builds its inputs
// once on the host (fixed seed, values in the op's real domain), launches the production
// op on any backend, and states the error bound with the reason for it.
//
// `kllens check-kernels` runs every case on the CPU (the reference) and on Vulkan and
// compares outputs by NMSE; guard rows and guard columns around every tensor catch writes
// out of bounds. `--perf` and bench/ time the same cases.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kllens/backend.h"

namespace kllens::check {

// One tensor of a case. Every tensor is placed inside a larger parent buffer: one guard
// row before and after it and, when guard_cols > 0, extra columns after each row (the
// tensor is then a strided view). Guards are filled with a pattern that must survive.
struct CaseTensor {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::vector<uint8_t> data;  // initial contents, row-major (in/out tensors: the input state)
  bool output = false;        // compared between backends after the op
  int64_t guard_cols = 0;
};

struct OpCase {
  std::string op;         // the op's one name (shader, CPU file, launcher, bench)
  std::string params;     // e.g. "n=1 K=768 N=3072 w=F16"
  double max_nmse = 1e-7; // bound for F32 outputs; I32 outputs must match exactly
  std::string why;        // why that bound
  double flops = 0;       // per launch
  double bytes = 0;       // bytes a launch must move at least (inputs read + outputs written)
  std::vector<CaseTensor> tensors;
  // Launches the op on `be` with the views of `tensors`, in order.
  std::function<void(Backend& be, const std::vector<Tensor>& t)> launch;
};

// Every case; `op` filters by name ("" = all).
std::vector<OpCase> all_cases(const std::string& op = "");

struct OutputCheck {
  std::string name;
  double nmse = 0, max_abs = 0;
  int64_t nonfinite = 0;   // elements where exactly one side is NaN/Inf (or they differ)
  int64_t mismatches = 0;  // I32 outputs: elements that differ
  bool guards_ok = true;
};

struct CaseResult {
  bool ok = false;
  std::string error;  // an exception from either backend
  std::vector<OutputCheck> outputs;
};

// Runs `c` on both backends and compares `test` against `reference`.
CaseResult run_case(const OpCase& c, Backend& reference, Backend& test);

// Seconds per launch of `c` on `be` (inputs bound once; `reps` launches, then sync).
double time_case(const OpCase& c, Backend& be, int reps);

// ---- input builders shared by the case files ------------------------------------------

std::vector<float> uniform(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f);
std::vector<uint8_t> encode(DType t, const std::vector<float>& v);
std::vector<uint8_t> encode_ids(const std::vector<int32_t>& ids);
CaseTensor input(std::string name, DType t, Shape shape, const std::vector<float>& v,
                 int64_t guard_cols = 0);
CaseTensor output(std::string name, Shape shape, int64_t guard_cols = 0);

}  // namespace kllens::check
