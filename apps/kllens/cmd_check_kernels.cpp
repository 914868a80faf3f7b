// kllens check-kernels [--op NAME] [--perf] [--validation] [--device N] [--list-devices]
// Every checker case (include/kllens/check.h) on the CPU's scalar reference tier, its AVX2
// tier and Vulkan; every pair compared against the case's bound (NMSE, elements over the
// bound, NaN/Inf mismatches, guard regions). Prints one line per case with the NMSE and
// max-rel error of reference vs AVX2, reference vs Vulkan and AVX2 vs Vulkan, and the first
// element over the bound (its index and both values) wherever there is one; exits non-zero
// on any failure. --perf adds time per launch and GB/s, GFLOP/s per backend.
#include <fmt/format.h>

#include "common.h"
#include "kllens/check.h"
#include "kllens/error.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"
#endif

namespace kllens::cli {

namespace {

struct CheckArgs {
  std::string op;
  bool perf = false, validation = false, list = false;
  int device = -1, reps = 5;
};

[[maybe_unused]] std::string rate(const check::OpCase& c, double sec) {
  return fmt::format("{:9.3f} ms {:7.2f} GB/s {:8.2f} GFLOP/s", sec * 1e3, c.bytes / sec / 1e9,
                     c.flops / sec / 1e9);
}

int run_check(const CheckArgs& a) {
#ifndef KLLENS_HAVE_VULKAN
  (void)a;
  fail("check-kernels: this kllens was built without the Vulkan backend (-DKLLENS_VULKAN=OFF)");
#else
  if (a.list) {
    for (const std::string& d : list_vulkan_devices()) fmt::print("{}\n", d);
    return 0;
  }
  // The device first: a --device that does not exist is refused before the cases are built.
  VulkanOptions o;
  o.device_index = a.device;
  o.validation = a.validation;
  std::unique_ptr<Backend> vulkan;
  try {
    vulkan = make_vulkan_backend(o);
  } catch (const Error& e) {
    // A device the user named that does not exist is a mistake in --device, said so.
    if (a.device >= 0) fail("--device: {}", e.what());
    throw;
  }
  const std::vector<check::OpCase> cases = check::all_cases(a.op);
  if (cases.empty()) fail("check-kernels: no cases for op '{}'", a.op);
  std::vector<std::unique_ptr<Backend>> owned;
  std::vector<std::string> short_names{"ref"};  // of owned, for the pairs' tags
  owned.push_back(make_cpu_backend(CpuTier::reference));
  for (CpuTier t : {CpuTier::avx2, CpuTier::avx512})
    if (cpu_tier_supported(t)) owned.push_back(make_cpu_backend(t)), short_names.push_back(cpu_tier_name(t));
  short_names.push_back("vk");
  owned.push_back(std::move(vulkan));
  Backend& vk = *owned.back();
  std::vector<Backend*> backends;
  for (auto& b : owned) backends.push_back(b.get());
  fmt::print("reference: cpu-reference (scalar); under test: {}{}{}; vulkan: {}{}\n",
             cpu_tier_supported(CpuTier::avx2) ? "cpu avx2, " : "(no AVX2 on this CPU) ",
             cpu_tier_supported(CpuTier::avx512) ? "cpu avx512 (AVX-512 VNNI), " : "(no AVX-512 VNNI on this CPU) ",
             "vulkan", vulkan_device_summary(vk), a.validation ? " (validation on)" : "");
  // Short names of the pairs, in run_case's order.
  std::vector<std::string> tags;
  for (size_t i = 0; i < backends.size(); ++i)
    for (size_t j = i + 1; j < backends.size(); ++j) tags.push_back(short_names[i] + "-" + short_names[j]);
  int passed = 0, failed = 0;
  for (const check::OpCase& c : cases) {
    const check::CaseResult r = check::run_case(c, backends);
    std::string pairs, notes;
    for (size_t p = 0; p < r.pairs.size(); ++p) {
      const check::PairCheck& pc = r.pairs[p];
      pairs += fmt::format(" {} nmse {:8.2e} max_rel {:8.2e}", tags[p], pc.nmse, pc.max_rel);
      if (!pc.ok) notes += " " + tags[p] + ":" + pc.summary();
      else if (const std::string at = pc.first_over(); !at.empty()) notes += " " + tags[p] + " first over its share: " + at + ";";
    }
    if (!r.error.empty()) notes += " error: " + r.error;
    (r.ok ? passed : failed)++;
    fmt::print("{:<4} {:<15} {:<50}{} (≤ {:.0e}){}\n", r.ok ? "OK" : "FAIL", c.op, c.params, pairs,
               c.max_nmse, notes);
    if (a.perf && r.ok)
      for (Backend* b : backends) fmt::print("     {:<14} {}\n", b->name(), rate(c, check::time_case(c, *b, a.reps)));
  }
  const int messages = vulkan_validation_messages(vk);
  if (messages > 0) {
    fmt::print("FAIL validation layer reported {} message(s)\n", messages);
    ++failed;
  }
  fmt::print("check-kernels: {} passed, {} failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
#endif
}

}  // namespace

void register_check_kernels(CLI::App& app) {
  auto a = std::make_shared<CheckArgs>();
  auto* cmd = app.add_subcommand("check-kernels", "Every kernel on the CPU reference tier, the AVX2 tier and Vulkan, compared pairwise");
  cmd->add_option("--op", a->op, "Only this op (e.g. matmul, ssm_scan)");
  cmd->add_flag("--perf", a->perf, "Also time each case on both backends");
  cmd->add_option("--reps", a->reps, "Launches per timing")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--validation", a->validation, "Khronos validation layer on; any message fails");
  cmd->add_option("--device", a->device, "Vulkan device index (see --list-devices)")->check(CLI::Range(0, 1 << 16));
  cmd->add_flag("--list-devices", a->list, "List Vulkan devices and exit");
  cmd->callback([a] {
    const int rc = run_check(*a);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kllens::cli
