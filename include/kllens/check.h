// The kernel checker and the op benchmarks share one list of test cases (in the spirit of
// llama.cpp's test-backend-ops): each case names an op and its shape, builds its inputs
// once on the host (fixed seed, values in the op's real domain), launches the production
// op on any backend, and states the error bound with the reason for it.
//
// `kllens check-kernels` and tests/test_kernels.cpp run every case on the CPU's scalar
// reference tier (the truth), its AVX2 tier and Vulkan, and compare every pair (reference
// vs AVX2, reference vs Vulkan, AVX2 vs Vulkan) against the case's bound; guard rows and
// guard columns around every tensor catch writes out of bounds. `--perf` and bench/ time
// the same cases.
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
  int launches = 1;        // > 1: the op runs that many times on the same tensors, so
                           // state carried between calls (conv, scan, KV, residual) is checked
  std::vector<CaseTensor> tensors;
  // Launches the op on `be` with the views of `tensors`, in order.
  std::function<void(Backend& be, const std::vector<Tensor>& t)> launch;
};

// Every case; `op` filters by name ("" = all).
std::vector<OpCase> all_cases(const std::string& op = "");

// How far `got` is from `ref` (the element-wise comparison every kernel test uses).
// F32: NMSE = Σ(a−b)² / Σa² over the finite pairs, max-abs, max-rel, and the elements over
// the bound: (a−b)² > max_nmse · mean(a²) — an element that alone spends more than its
// share of the NMSE budget — or a ≠ b for a bound of 0, or exactly one side NaN/Inf (or
// both non-finite and different). The F32 verdict is the NMSE bound and no non-finite
// mismatch; elements over the bound locate a failure (the first one's index). I32: every
// difference is over the bound and fails.
struct Comparison {
  double nmse = 0, max_abs = 0, max_rel = 0;
  bool integer = false;
  int64_t nonfinite = 0;         // non-finite mismatches (included in `over`)
  int64_t over = 0;              // elements over the bound
  int64_t first_over = -1;       // flat index of the first of them, -1 if none
  std::string first_over_at;     // its multi-dimensional index, "[r,c]", and both values
  std::string worst;             // the largest errors, "  [i,j] ref=… got=…" per line
  bool ok(double max_nmse) const {
    return nonfinite == 0 && nmse <= max_nmse && (!integer || over == 0);
  }
};
Comparison compare(const std::vector<double>& ref, const std::vector<double>& got,
                   const Shape& shape, double max_nmse, bool integer);

// One output of a case under one pair of backends.
struct OutputCheck {
  std::string name;
  Comparison cmp;
  bool guards_ok = true;  // neither backend wrote outside the view
};

// The comparison of one pair of backends (`test` against `ref`) over every output.
struct PairCheck {
  std::string ref, test;  // backend names
  double bound = 0;       // the case's max_nmse
  bool ok = false;
  double nmse = 0, max_rel = 0;  // worst over the outputs
  std::vector<OutputCheck> outputs;
  std::string summary() const;  // the failures, one "name: …" per failing output
  // "name[r,c] ref=… got=…": the first element over the bound of the first output that has
  // one (also when the pair passes: elements over their share locate the largest errors);
  // empty when none is.
  std::string first_over() const;
};

struct CaseResult {
  bool ok = false;
  std::string error;             // an exception from a backend
  std::vector<PairCheck> pairs;  // (0,1), (0,2), …, (1,2), … of the backends given
};

// Runs `c` once on each backend and compares every pair (i < j), the first backend being
// the reference of the others; every pair against the case's bound.
CaseResult run_case(const OpCase& c, const std::vector<Backend*>& backends);

// Seconds per launch of `c` on `be` (inputs bound once; `reps` launches, then sync).
double time_case(const OpCase& c, Backend& be, int reps);

// ---- input builders shared by the case files ------------------------------------------

// The one random generator of the kernel tests: splitmix64, the same stream on every
// platform and standard library (std's distributions differ between libraries).
std::vector<float> uniform(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f);
// Standard normal values (Box–Muller over the same stream).
std::vector<float> normal(int64_t n, uint64_t seed);
// Values as dtype t's bytes: F32, F16, BF16 (rounded to nearest), or I32 (integral values).
std::vector<uint8_t> encode(DType t, const std::vector<float>& v);
std::vector<uint8_t> encode_ids(const std::vector<int32_t>& ids);
CaseTensor input(std::string name, DType t, Shape shape, const std::vector<float>& v,
                 int64_t guard_cols = 0);
CaseTensor output(std::string name, Shape shape, int64_t guard_cols = 0);

}  // namespace kllens::check
