// Device faults through the Vulkan runtime's fault hook (VulkanOptions::fault,
// $KLLENS_VULKAN_FAULT): out of device memory at an allocation, device lost at a
// submission. Each is one clear line of type VulkanDeviceError; a command that can redo
// its work (logits, perplexity) says so and goes on on the CPU with the same result, and
// leaves nothing half-written.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "kllens/io.h"
#include "kllens/vulkan.h"
#include "support/cli.h"
#include "support/compare.h"
#include "support/vulkan_pair.h"

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

// A malformed hook setting is refused in one line.
TEST(VulkanFaults, MalformedFaultSettingIsRefused) {
  REQUIRE_VULKAN();
  setenv("KLLENS_VULKAN_FAULT", "lost:x", 1);
  EXPECT_THROW(make_vulkan_backend(), Error);
  unsetenv("KLLENS_VULKAN_FAULT");
}

}  // namespace
}  // namespace kllens
