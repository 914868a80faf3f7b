// OpProfile and the op-timing backend wrapper (kllens/op_profile.h).
#include "kllens/op_profile.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <vector>

namespace kllens {

// ---- the profile -------------------------------------------------------------------------

void OpProfile::start() {
  recording_ = true;
  t0_ = std::chrono::steady_clock::now();
}

void OpProfile::stop(int64_t tokens) {
  step_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  tokens_ += tokens;
  recording_ = false;
}

void OpProfile::add(const std::string& kind, double seconds) {
  Kind& k = kinds_[kind];
  ++k.calls;
  k.seconds += seconds;
}

void OpProfile::clear() { *this = OpProfile(); }

double omp_fork_join_us(int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    { asm volatile("" ::: "memory"); }
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best * 1e6;
}

std::string OpProfile::report(const std::string& title) const {
  if (tokens_ == 0) return fmt::format("{}: no decode tokens were profiled\n", title);
  const double n = double(tokens_), step_us = step_seconds_ / n * 1e6;
  std::vector<std::pair<std::string, Kind>> rows(kinds_.begin(), kinds_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  std::string out = fmt::format("{}: {} decode tokens, {:.1f} us per token (wall time of the decode loops)\n", title,
                                tokens_, step_us);
  out += fmt::format("  {:<34} {:>11} {:>10} {:>8}\n", "op", "calls/token", "us/token", "of step");
  double ops_us = 0;
  for (const auto& [name, k] : rows) {
    const double us = k.seconds / n * 1e6;
    ops_us += us;
    out += fmt::format("  {:<34} {:>11.1f} {:>10.1f} {:>7.1f}%\n", name, double(k.calls) / n, us, 100 * us / step_us);
  }
  out += fmt::format("  {:<34} {:>11} {:>10.1f} {:>7.1f}%\n", "outside ops (download, host)", "", step_us - ops_us,
                     100 * (step_us - ops_us) / step_us);
  out += fmt::format("  one empty OpenMP parallel region of {} threads: {:.2f} us (best of 2000, now)\n",
                     omp_get_max_threads(), omp_fork_join_us());
  return out;
}

// ---- the wrapper -------------------------------------------------------------------------

namespace {

class ProfiledBackend final : public Backend {
 public:
  ProfiledBackend(std::unique_ptr<Backend> inner, std::shared_ptr<OpProfile> profile)
      : inner_(std::move(inner)), profile_(std::move(profile)) {}

  std::string name() const override { return inner_->name(); }
  Tensor alloc(DType dtype, const Shape& shape) override { return inner_->alloc(dtype, shape); }
  void upload(const Tensor& dst, const void* src) override { inner_->upload(dst, src); }
  void download(const Tensor& src, void* dst) override { inner_->download(src, dst); }
  Tensor import_host(std::shared_ptr<const void> owner, const void* data, DType dtype, const Shape& shape) override {
    return inner_->import_host(std::move(owner), data, dtype, shape);
  }
  void fill_zero(const Tensor& t) override { timed("fill_zero", [&] { inner_->fill_zero(t); }); }
  void sync() override { inner_->sync(); }

  void embed(const Weight& table, const Tensor& ids, const Tensor& out) override {
    timed("embed", [&] { inner_->embed(table, ids, out); });
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& out) override {
    timed("rms_norm", [&] { inner_->rms_norm(x, w, eps, out); });
  }
  void add_rms_norm(const Tensor& residual, const Tensor& delta, const Tensor& w, float eps,
                    const Tensor& out) override {
    timed("add_rms_norm", [&] { inner_->add_rms_norm(residual, delta, w, eps, out); });
  }
  void matmul(const Tensor& x, const Weight& w, const Tensor& out) override {
    inner_->set_matmul_mode(matmul_mode());
    if (!profile_->recording()) return inner_->matmul(x, w, out);
    const std::string kind = fmt::format("matmul {} [{}, {}]", dtype_name(w.w.dtype), w.out_features(), w.in_features());
    timed(kind, [&] { inner_->matmul(x, w, out); });
  }
  void conv1d_causal(const Conv1dArgs& a) override { timed("conv1d_causal", [&] { inner_->conv1d_causal(a); }); }
  void ssm_scan(const SsmScanArgs& a) override { timed("ssm_scan", [&] { inner_->ssm_scan(a); }); }
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override {
    timed("add", [&] { inner_->add(a, b, out); });
  }
  void copy(const Tensor& src, const Tensor& dst) override { timed("copy", [&] { inner_->copy(src, dst); }); }
  void ssd_scan(const SsdScanArgs& a) override { timed("ssd_scan", [&] { inner_->ssd_scan(a); }); }
  void rms_norm_gated(const Tensor& y, const Tensor& z, const Tensor& w, int64_t group_size, float eps,
                      const Tensor& out) override {
    timed("rms_norm_gated", [&] { inner_->rms_norm_gated(y, z, w, group_size, eps, out); });
  }
  void rope(const Tensor& x, const Tensor& inv_freq, int64_t batch, int64_t seqlen, int64_t past, int64_t heads,
            int64_t head_dim) override {
    timed("rope", [&] { inner_->rope(x, inv_freq, batch, seqlen, past, heads, head_dim); });
  }
  void attention(const AttentionArgs& a) override { timed("attention", [&] { inner_->attention(a); }); }
  void silu_mul(const Tensor& gate, const Tensor& up, const Tensor& out) override {
    timed("silu_mul", [&] { inner_->silu_mul(gate, up, out); });
  }
  void kl_reduce(const Tensor& teacher, const Tensor& student, const Tensor& targets, const Tensor& out) override {
    timed("kl_reduce", [&] { inner_->kl_reduce(teacher, student, targets, out); });
  }
  void argmax(const Tensor& logits, const Tensor& out) override { timed("argmax", [&] { inner_->argmax(logits, out); }); }
  Weight quantize_weight(const Weight& src, DType type) override { return inner_->quantize_weight(src, type); }
  void topk(const Tensor& logits, const Tensor& values, const Tensor& indices) override {
    timed("topk", [&] { inner_->topk(logits, values, indices); });
  }
  // Capture would record the inner backend's ops out of sight of the timer: not offered.
  bool begin_capture() override { return false; }

 private:
  template <class F>
  void timed(const std::string& kind, F&& op) {
    if (!profile_->recording()) return op();
    const auto t0 = std::chrono::steady_clock::now();
    op();
    profile_->add(kind, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  std::unique_ptr<Backend> inner_;        // owned
  std::shared_ptr<OpProfile> profile_;    // shared with the caller, who reads it
};

}  // namespace

std::unique_ptr<Backend> profile_ops(std::unique_ptr<Backend> inner, std::shared_ptr<OpProfile> profile) {
  return std::make_unique<ProfiledBackend>(std::move(inner), std::move(profile));
}

}  // namespace kllens
