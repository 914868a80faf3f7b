// Device faults through the Vulkan runtime's fault hook (VulkanOptions::fault,
// $KLLENS_VULKAN_FAULT): out of device memory at an allocation, device lost at a
// submission. Each is one clear line of type VulkanDeviceError; a command that can go on
// (logits, perplexity, generate, bench, a sensitivity sweep) says so and goes on on the
// CPU with the same result, and leaves nothing half-written. A sweep over several devices
// hands the faulted worker's probes to the others.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "kllens/io.h"
#include "kllens/vulkan.h"
#include "support/cli.h"
#include "support/compare.h"
#include "support/reference.h"
#include "support/vulkan_pair.h"

#include <nlohmann/json.hpp>

namespace kllens {
namespace {

using namespace ::kllens::test;

std::unique_ptr<Backend> faulty(VulkanFault fault, int after) {
  VulkanOptions o;
  o.validation = true;
  o.fault = fault;
  o.fault_after = after;
  return make_vulkan_backend(o);
}

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; }

TEST(VulkanFaults, OutOfDeviceMemoryIsOneClearLine) {
  REQUIRE_VULKAN();
  auto be = faulty(VulkanFault::out_of_device_memory, 0);
  try {
    be->alloc(DType::F32, {1000, 1000});
    ADD_FAILURE() << "the injected allocation failure was not reported";
  } catch (const VulkanDeviceError& e) {
    EXPECT_TRUE(one_line(e.what())) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("Vulkan device out of memory (vkAllocateMemory at memory.cpp:", 0), 0u)
        << e.what();
  }
  // Only that allocation failed: the backend goes on.
  Tensor t = be->alloc(DType::F32, {4, 4});
  be->fill_zero(t);
  be->sync();
  EXPECT_EQ(vulkan_validation_messages(*be), 0);
}

TEST(VulkanFaults, DeviceLostIsOneClearLine) {
  REQUIRE_VULKAN();
  auto be = faulty(VulkanFault::device_lost, 0);
  Tensor t = be->alloc(DType::F32, {4, 4});
  be->fill_zero(t);
  try {
    be->sync();
    ADD_FAILURE() << "the injected device loss was not reported";
  } catch (const VulkanDeviceError& e) {
    EXPECT_TRUE(one_line(e.what())) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("Vulkan device lost (vkQueueSubmit at stream.cpp:", 0), 0u) << e.what();
  }
}

// kllens logits on Vulkan with each fault: the same file as on the CPU, a line saying it
// went on on the CPU, exit 0.
TEST(VulkanFaults, LogitsGoOnOnTheCpu) {
  REQUIRE_VULKAN();
  const std::string dir = scratch_dir(), model = shared_path("fixtures/tiny-mamba");
  const std::string args = "logits " + model + " --ids 1,2,3,4,5 --out ";
  const CliResult cpu = run_cli(args + dir + "/cpu.safetensors --backend cpu");
  ASSERT_EQ(cpu.status, 0) << cpu.err;
  const std::string want = read_file(dir + "/cpu.safetensors");
  for (const char* fault : {"oom:0", "lost:0"}) {
    setenv("KLLENS_VULKAN_FAULT", fault, 1);
    const std::string out = dir + "/vk_" + std::string(fault).replace(std::string(fault).find(':'), 1, "_") + ".safetensors";
    const CliResult r = run_cli(args + out + " --backend vulkan");
    unsetenv("KLLENS_VULKAN_FAULT");
    ASSERT_EQ(r.status, 0) << fault << ": " << r.err;
    EXPECT_NE(r.err.find("kllens: Vulkan device "), std::string::npos) << fault << ": " << r.err;
    EXPECT_NE(r.err.find("; continuing on the CPU\n"), std::string::npos) << fault << ": " << r.err;
    EXPECT_EQ(read_file(out), want) << fault;
    for (const auto& e : std::filesystem::directory_iterator(dir))  // no temporary left behind
      EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
}

// Sets $KLLENS_VULKAN_FAULT for one run of kllens.
CliResult run_with_fault(const std::string& fault, const std::string& args) {
  setenv("KLLENS_VULKAN_FAULT", fault.c_str(), 1);
  CliResult r = run_cli(args);
  unsetenv("KLLENS_VULKAN_FAULT");
  return r;
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}

void expect_no_temporaries(const std::string& dir) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

// kllens generate: a fault before the first step, in the middle of decoding (a later
// submission) and at an allocation; each time the same greedy ids as the fixture's
// reference and the same text as on the CPU, printed once, with one line saying so.
TEST(VulkanFaults, GenerateGoesOnOnTheCpuFromTheTokensPrinted) {
  REQUIRE_VULKAN();
  const Reference ref("tiny-mamba");
  const std::string args = "generate " + ref.model_dir() + " --prompt-ids " +
                           fmt::format("{}", fmt::join(ref.i32("greedy_prompt"), ",")) +
                           " -n 16 --ignore-eos --print-ids --backend ";
  const std::string want = fmt::format("ids [{}]", fmt::join(ref.i32("greedy_ids"), ","));
  const CliResult cpu = run_cli(args + "cpu");
  ASSERT_EQ(cpu.status, 0) << cpu.err;
  for (const char* fault : {"lost:0", "lost:7", "oom:0", "oom:1"}) {
    const CliResult r = run_with_fault(fault, args + "vulkan");
    ASSERT_EQ(r.status, 0) << fault << ": " << r.err;
    EXPECT_EQ(count(r.err, "; continuing on the CPU\n"), 1u) << fault << ": " << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << fault << ": " << r.err;
    EXPECT_EQ(r.out, cpu.out) << fault;
  }
}

// kllens bench: the faulted backend's rows are measured on the CPU and labelled cpu.
TEST(VulkanFaults, BenchGoesOnOnTheCpu) {
  REQUIRE_VULKAN();
  const std::string args = "bench " + shared_path("fixtures/tiny-mamba") + " -p 8 -n 4 -r 1 -o csv --backend vulkan";
  for (const char* fault : {"lost:3"}) {  // a submission part-way through the tests
    const CliResult r = run_with_fault(fault, args);
    ASSERT_EQ(r.status, 0) << fault << ": " << r.err;
    EXPECT_EQ(count(r.err, "; continuing on the CPU\n"), 1u) << fault << ": " << r.err;
    EXPECT_EQ(count(r.out, "\"pp8\""), 1u) << fault << ": " << r.out;
    EXPECT_EQ(count(r.out, "\"tg4\""), 1u) << fault << ": " << r.out;
    EXPECT_EQ(count(r.out, "\"kllens cpu (OpenMP)\""), 2u) << fault << ": " << r.out;
    EXPECT_EQ(count(r.out, "\"vulkan\""), 0u) << fault << ": " << r.out;
  }
}

// The probes a sweep of block 0 (8 probes) wrote, by name.
std::vector<std::string> probe_names(const std::string& out) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(out + "/probes"))
    if (e.path().filename() != "sweep.json") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string sweep_args(const std::string& out) {
  return "sensitivity " + shared_path("fixtures/tiny-mamba") + " --calib-ids " +
         shared_path("fixtures/tiny-mamba/reference.safetensors") + " --layers 'layers\\.0\\.' -o " + out;
}

// A sweep on one Vulkan device goes on on the CPU, keeping the probes it had saved; one on
// cpu,vulkan hands the faulted worker's probes back to the queue and the CPU worker runs
// them. Every probe is there either way, and sensitivity.json is whole.
TEST(VulkanFaults, SweepGoesOnOnTheCpu) {
  REQUIRE_VULKAN();
  const std::string cpu_out = scratch_dir();
  ASSERT_EQ(run_cli(sweep_args(cpu_out) + " --backend cpu").status, 0);
  const std::vector<std::string> want = probe_names(cpu_out);
  ASSERT_EQ(want.size(), 8u);
  for (const char* fault : {"lost:5"}) {  // after some probes were saved: they are kept
    const std::string out = scratch_dir();
    const CliResult r = run_with_fault(fault, sweep_args(out) + " --backend vulkan");
    ASSERT_EQ(r.status, 0) << fault << ": " << r.err;
    EXPECT_EQ(count(r.err, "; continuing on the CPU\n"), 1u) << fault << ": " << r.err;
    EXPECT_EQ(probe_names(out), want) << fault;
    EXPECT_TRUE(std::filesystem::exists(out + "/sensitivity.json")) << fault;
    expect_no_temporaries(out);
  }
  // lost:0 is in the Vulkan worker's teacher pass, lost:1 in its first probe (the teacher
  // pass of these 2 windows is one submission), which it hands back.
  for (const char* fault : {"lost:0", "lost:1"}) {
    const std::string out = scratch_dir();
    const CliResult r = run_with_fault(fault, sweep_args(out) + " --backend cpu,vulkan");
    ASSERT_EQ(r.status, 0) << fault << ": " << r.err;
    EXPECT_EQ(count(r.err, "go to the other devices\n"), 1u) << fault << ": " << r.err;
    EXPECT_EQ(count(r.err, "continuing on the CPU"), 0u) << fault << ": " << r.err;
    EXPECT_EQ(probe_names(out), want) << fault;
    const std::string report = read_file(out + "/sensitivity.json");
    for (const std::string& p : want)  // "layers.0.x_proj@4.json" -> "layers.0.x_proj" is reported
      EXPECT_NE(report.find(p.substr(0, p.find('@'))), std::string::npos) << fault << ": " << p;
    expect_no_temporaries(out);
  }
}

// Every file under `dir`, as paths relative to it, sorted.
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

// A file's JSON without its wall-clock fields: a probe file's "seconds" (and "checksum",
// which covers it), evaluation.json's tokens per second.
nlohmann::json without_timings(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(read_file(path));
  auto strip = [](nlohmann::json& o) {
    for (const char* k : {"seconds", "checksum", "prefill_tokens_per_s", "decode_tokens_per_s"}) o.erase(k);
  };
  if (j.is_array())
    for (auto& e : j) strip(e);
  else
    strip(j);
  return j;
}

// report.md without the two tok/s columns of its plan table (the last two cells).
std::string report_without_timings(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string out, line;
  bool plans = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) plans = line == "## Plans, evaluated";
    if (plans && line.rfind("| ", 0) == 0 && line.find("|---") == std::string::npos)
      for (int cut = 0; cut < 2; ++cut) line.erase(line.rfind('|', line.size() - 2) + 1);
    out += line + "\n";
  }
  return out;
}

std::string lens_args(const std::string& out) {
  const std::string fx = shared_path("fixtures/tiny-mamba");
  return "lens " + fx + " --calib-ids " + fx + "/reference.safetensors --eval " +
         shared_path("data/brown/test.txt") + " --eval-tokens 256 --ctx 64 --layers 'layers\\.0\\.' " +
         "--points 2 --budget-bpw 6 -o " + out;
}

// kllens lens, the main job, on Vulkan with a device fault in its sweep: one line saying it
// goes on on the CPU, exit 0, the same files as a CPU-only run, nothing half-written.
// oom:0 and lost:0 come before any probe is saved, so everything is computed on the CPU:
// every file equals the CPU-only run's byte for byte except the wall-clock fields (probe
// files' "seconds" and "checksum", evaluation.json's tokens per second, report.md's tok/s
// columns). lost:12 comes after probes were saved on Vulkan: those keep backend "vulkan: ..."
// and Vulkan's numbers (so sensitivity.json, rank.json, the plans and the report may differ in
// the last digits); every probe computed after the fault equals the CPU-only run's.
TEST(VulkanFaults, LensGoesOnOnTheCpu) {
  REQUIRE_VULKAN();
  const std::string cpu_out = scratch_dir();
  const CliResult cpu = run_cli(lens_args(cpu_out) + " --backend cpu");
  ASSERT_EQ(cpu.status, 0) << cpu.err;
  const std::vector<std::string> want = files_under(cpu_out);
  ASSERT_EQ(std::count_if(want.begin(), want.end(), [](const std::string& f) { return f.rfind("probes/", 0) == 0; }),
            9);  // 8 probes and sweep.json
  for (const char* fault : {"oom:0", "lost:0", "lost:12"}) {
    const std::string out = scratch_dir();
    const CliResult r = run_with_fault(fault, lens_args(out) + " --backend vulkan");
    ASSERT_EQ(r.status, 0) << fault << ": " << r.err;
    EXPECT_EQ(count(r.err, "; continuing on the CPU\n"), 1u) << fault << ": " << r.err;
    EXPECT_EQ(files_under(out), want) << fault;
    expect_no_temporaries(out);
    int on_vulkan = 0;
    for (const std::string& f : want) {
      if (f.rfind("probes/", 0) != 0 || f == "probes/sweep.json") continue;
      const nlohmann::json got = without_timings(out + "/" + f);
      if (got.at("backend").get<std::string>().rfind("vulkan", 0) == 0)
        ++on_vulkan;
      else
        EXPECT_EQ(got, without_timings(cpu_out + "/" + f)) << fault << ": " << f;
    }
    if (std::string(fault) != "lost:12") {
      EXPECT_EQ(on_vulkan, 0) << fault;
      for (const std::string& f : want) {
        if (f == "evaluation.json") {
          EXPECT_EQ(without_timings(out + "/" + f), without_timings(cpu_out + "/" + f)) << fault;
        } else if (f == "report.md") {
          EXPECT_EQ(report_without_timings(out + "/" + f), report_without_timings(cpu_out + "/" + f)) << fault;
        } else if (f.rfind("probes/", 0) != 0) {
          EXPECT_EQ(read_file(out + "/" + f), read_file(cpu_out + "/" + f)) << fault << ": " << f;
        }
      }
    } else {
      EXPECT_GT(on_vulkan, 0) << "lost:12 should come after the first probes were saved";
      EXPECT_LT(on_vulkan, 8) << "lost:12 should come before the last probe";
    }
  }
}

// A malformed hook setting is refused in one line.
TEST(VulkanFaults, MalformedFaultSettingIsRefused) {
  REQUIRE_VULKAN();
  setenv("KLLENS_VULKAN_FAULT", "lost:x", 1);
  EXPECT_THROW(make_vulkan_backend(), Error);
  unsetenv("KLLENS_VULKAN_FAULT");
}

}  // namespace
}  // namespace kllens
