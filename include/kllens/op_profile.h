// Wall time per op kind of a backend whose ops run when called (the CPU backend): the CPU
// side of `kllens bench --profile` (the Vulkan backend times its kernels on the GPU).
//
// profile_ops() wraps a backend; every op call made while the profile is recording is
// timed with the wall clock and added to its kind (an op name, and for matmul the weight
// type and shape, e.g. "matmul q4_0 [3072, 768]"). Nothing is timed, and nothing is
// wrapped, unless a caller asks for the profile: the plain backend has no overhead.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "kllens/backend.h"

namespace kllens {

class OpProfile {
 public:
  // Ops are timed only between start() and stop(); a region counts `tokens` decode tokens
  // and adds its own wall time (ops and everything between them) to the step total.
  void start();
  void stop(int64_t tokens);
  bool recording() const { return recording_; }
  void add(const std::string& kind, double seconds);
  // Per decode token: calls, microseconds and share of the step for every kind, slowest
  // first, the time outside ops (downloads, host work), and the cost of one empty OpenMP
  // parallel region measured now (the fork/join every threaded op pays).
  std::string report(const std::string& title) const;
  void clear();

 private:
  struct Kind { int64_t calls = 0; double seconds = 0; };
  std::map<std::string, Kind> kinds_;
  bool recording_ = false;
  int64_t tokens_ = 0;
  double step_seconds_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

// A backend that forwards everything to `inner` and times its ops into `profile`.
std::unique_ptr<Backend> profile_ops(std::unique_ptr<Backend> inner, std::shared_ptr<OpProfile> profile);

// Microseconds one empty `#pragma omp parallel` region of the current thread count takes
// (best of `reps`).
double omp_fork_join_us(int reps = 2000);

}  // namespace kllens
