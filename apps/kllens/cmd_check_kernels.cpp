// kllens check-kernels [--op NAME] [--perf] [--validation] [--device N] [--list-devices]
// Every checker case (include/kllens/check.h) on Vulkan against the CPU reference: NMSE
// against the case's bound, NaN/Inf mismatches, guard regions. Prints one line per case and
// exits non-zero on any failure. --perf adds time per launch and GB/s, GFLOP/s per backend.
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
  const std::vector<check::OpCase> cases = check::all_cases(a.op);
  if (cases.empty()) fail("check-kernels: no cases for op '{}'", a.op);
  auto cpu = make_cpu_backend();
  VulkanOptions o;
  o.device_index = a.device;
  o.validation = a.validation;
  auto vk = make_vulkan_backend(o);
  fmt::print("reference: cpu; under test: {}{}\n", vulkan_device_summary(*vk),
             a.validation ? " (validation on)" : "");
  int passed = 0, failed = 0;
  for (const check::OpCase& c : cases) {
    const check::CaseResult r = check::run_case(c, *cpu, *vk);
    double nmse = 0, max_abs = 0;
    std::string notes;
    for (const auto& out : r.outputs) {
      nmse = std::max(nmse, out.nmse);
      max_abs = std::max(max_abs, out.max_abs);
      if (!out.guards_ok) notes += " " + out.name + ":guard-overwritten";
      if (out.nonfinite) notes += fmt::format(" {}:{}-nonfinite", out.name, out.nonfinite);
      if (out.mismatches) notes += fmt::format(" {}:{}-mismatches", out.name, out.mismatches);
    }
    if (!r.error.empty()) notes += " error: " + r.error;
    (r.ok ? passed : failed)++;
    fmt::print("{:<4} {:<15} {:<50} nmse {:9.2e} (≤ {:.0e}) max_abs {:9.2e}{}\n", r.ok ? "OK" : "FAIL",
               c.op, c.params, nmse, c.max_nmse, max_abs, notes);
    if (a.perf && r.ok)
      fmt::print("     cpu    {}\n     vulkan {}\n", rate(c, check::time_case(c, *cpu, a.reps)),
                 rate(c, check::time_case(c, *vk, a.reps)));
  }
  const int messages = vulkan_validation_messages(*vk);
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
  auto* cmd = app.add_subcommand("check-kernels", "Every kernel on Vulkan against the CPU reference");
  cmd->add_option("--op", a->op, "Only this op (e.g. matmul, ssm_scan)");
  cmd->add_flag("--perf", a->perf, "Also time each case on both backends");
  cmd->add_option("--reps", a->reps, "Launches per timing")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--validation", a->validation, "Khronos validation layer on; any message fails");
  cmd->add_option("--device", a->device, "Vulkan device index");
  cmd->add_flag("--list-devices", a->list, "List Vulkan devices and exit");
  cmd->callback([a] {
    const int rc = run_check(*a);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kllens::cli
