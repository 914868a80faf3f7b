// Replayed decode steps (kllens::Decoder, Backend::begin_capture / replay) on Vulkan with
// the Khronos validation layer on: greedy decoding of tiny-mamba (the fixture and the
// project's copy in models/) and tiny-mamba2 from a recorded step must give the reference's
// greedy ids, the CPU's ids, and step logits bit-identical to running every step directly
// on Vulkan (a replay runs the same kernels on the same arguments).
//
// Bounds: step logits vs the PyTorch reference NMSE ≤ 1e-8 (fixtures/README.md's step
// tolerance), vs the CPU 1e-7 (fp32 on both sides; only summation order and exp/log ulps
// differ), vs direct Vulkan steps: exact.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kllens/decode.h"
#include "kllens/error.h"
#include "kllens/model.h"
#include "kllens/sampling.h"
#include "kllens/vulkan.h"
#include "support/cli.h"
#include "support/compare.h"
#include "support/reference.h"

namespace kllens::test {
namespace {

constexpr double kVsReferenceNmse = 1e-8, kVsCpuNmse = 1e-7;

// Prefill `prompt`, then `steps` greedy steps through a Decoder (support/reference).
GreedyRun greedy(Model& m, const std::vector<int32_t>& prompt, size_t steps, bool replay) {
  GreedyRun g = greedy_decode(m, prompt, steps, replay);
  EXPECT_EQ(g.position, int64_t(prompt.size() + steps));
  EXPECT_EQ(g.device_argmax, g.host_argmax) << "the step's own argmax must pick what the host would";
  return g;
}

std::unique_ptr<Backend> validated_vulkan() {
  VulkanOptions o;
  o.validation = true;
  return make_vulkan_backend(o);
}

// Throws (fails the test) on any validation message, then checks the count.
void expect_no_validation_messages(Backend& vk) {
  vk.sync();
  EXPECT_EQ(vulkan_validation_messages(vk), 0);
}

// ---- greedy decoding against the reference, the CPU and direct steps -------------------

void check_greedy(const std::string& fixture, const std::string& model_dir) {
  const Reference ref(fixture);
  auto cpu = make_cpu_backend(best_cpu_tier());
  auto vk = validated_vulkan();
  auto cpu_model = Model::load(model_dir, *cpu);
  auto vk_model = Model::load(model_dir, *vk);
  const std::vector<int32_t> prompt = ref.i32("greedy_prompt"), want = ref.i32("greedy_ids");
  const Shape shape = ref.shape("greedy_step_logits");

  const GreedyRun c = greedy(*cpu_model, prompt, want.size(), true);
  const GreedyRun direct = greedy(*vk_model, prompt, want.size(), false);
  const GreedyRun replayed = greedy(*vk_model, prompt, want.size(), true);
  EXPECT_FALSE(c.replayed);  // the CPU backend does not capture: direct steps
  EXPECT_FALSE(direct.replayed);
  EXPECT_TRUE(replayed.replayed);
  EXPECT_EQ(replayed.ids, want);
  EXPECT_EQ(replayed.ids, c.ids);
  EXPECT_EQ(replayed.step_logits, direct.step_logits) << "a replay must reproduce the direct steps exactly";
  const Comparison vs_ref = compare(ref.f32("greedy_step_logits").data(), replayed.step_logits.data(), shape);
  const Comparison vs_cpu = compare(c.step_logits.data(), replayed.step_logits.data(), shape);
  std::printf("    %s replayed step logits: vs reference nmse %.2e, vs cpu nmse %.2e\n", model_dir.c_str(),
              vs_ref.nmse, vs_cpu.nmse);
  EXPECT_TRUE(close(ref.f32("greedy_step_logits"), replayed.step_logits, shape, kVsReferenceNmse));
  EXPECT_TRUE(close(c.step_logits, replayed.step_logits, shape, kVsCpuNmse));
  expect_no_validation_messages(*vk);
}

TEST(VulkanReplay, TinyMambaFixtureGreedy) {
  check_greedy("tiny-mamba", shared_path("fixtures/tiny-mamba"));
}

TEST(VulkanReplay, TinyMambaProjectCopyGreedy) {
  check_greedy("tiny-mamba", source_path("models/tiny-mamba"));
}

TEST(VulkanReplay, TinyMamba2Greedy) {
  check_greedy("tiny-mamba2", shared_path("fixtures/tiny-mamba2"));
}

// Hymba's step depends on its position on the host: the Decoder runs it directly.
TEST(VulkanReplay, HymbaStepsRunDirectly) {
  const Reference ref("tiny-hymba");
  auto vk = validated_vulkan();
  auto m = Model::load(ref.model_dir(), *vk);
  EXPECT_FALSE(Decoder::replayable(*m));
  const GreedyRun g = greedy(*m, ref.i32("greedy_prompt"), 4, true);
  EXPECT_FALSE(g.replayed);
  const std::vector<int32_t> want = ref.i32("greedy_ids");
  EXPECT_EQ(g.ids, std::vector<int32_t>(want.begin(), want.begin() + 4));
  expect_no_validation_messages(*vk);
}

// ---- graphs per state, interleaved with other work on the same model ---------------------

// Two sequences decoded in alternation through two Decoders (two graphs sharing the model's
// scratch), with a direct prefill of a third sequence between steps: each must equal its
// own sequential run on the CPU.
TEST(VulkanReplay, TwoStatesInterleavedWithOtherWork) {
  const Reference ref("tiny-mamba");
  auto cpu = make_cpu_backend(best_cpu_tier());
  auto vk = validated_vulkan();
  auto cm = Model::load(ref.model_dir(), *cpu);
  auto vm = Model::load(ref.model_dir(), *vk);
  const int64_t V = vm->config().vocab_size;
  const std::vector<int32_t> a = {5, 17, 300, 42, 7, 7, 99, 1}, b = {250, 3, 3, 64, 128, 2, 11, 600};
  auto sa = vm->new_state(1), sb = vm->new_state(1);
  Tensor la = vk->alloc(DType::F32, {1, V}), lb = vk->alloc(DType::F32, {1, V});
  Decoder da(*vm, *sa, la), db(*vm, *sb, lb);
  std::vector<float> got_a, got_b, row(static_cast<size_t>(V));
  for (size_t i = 0; i < a.size(); ++i) {
    da.step(a[i]);
    vk->download(la, row.data());
    got_a.insert(got_a.end(), row.begin(), row.end());
    (void)compute_logits(*vm, {1, 2, 3, 4, 5, 6}, 1, 6);  // other work between the replays
    db.step(b[i]);
    vk->download(lb, row.data());
    got_b.insert(got_b.end(), row.begin(), row.end());
  }
  EXPECT_TRUE(da.replaying() && db.replaying());
  const Shape shape = {int64_t(a.size()), V};
  // One token at a time on the CPU.
  auto cpu_steps = [&](const std::vector<int32_t>& ids) {
    auto st = cm->new_state(1);
    Tensor l = cpu->alloc(DType::F32, {1, V});
    std::vector<float> out;
    for (int32_t id : ids) {
      cm->forward({id}, 1, 1, *st, l);
      out.insert(out.end(), l.data<float>(), l.data<float>() + V);
    }
    return out;
  };
  EXPECT_TRUE(close(cpu_steps(a), got_a, shape, kVsCpuNmse));
  EXPECT_TRUE(close(cpu_steps(b), got_b, shape, kVsCpuNmse));
  expect_no_validation_messages(*vk);
}

// Discrete-GPU memory path: device buffers are not host-visible, uploads and downloads go
// through staging copies recorded on the stream between the replays.
TEST(VulkanReplay, StagingMemoryPath) {
  const Reference ref("tiny-mamba");
  ::setenv("KLLENS_VULKAN_FORCE_STAGING", "1", 1);
  std::unique_ptr<Backend> vk;
  try {
    vk = validated_vulkan();
  } catch (...) {
    ::unsetenv("KLLENS_VULKAN_FORCE_STAGING");
    throw;
  }
  ::unsetenv("KLLENS_VULKAN_FORCE_STAGING");
  auto m = Model::load(ref.model_dir(), *vk);
  const std::vector<int32_t> want = ref.i32("greedy_ids");
  const GreedyRun g = greedy(*m, ref.i32("greedy_prompt"), want.size(), true);
  EXPECT_TRUE(g.replayed);
  EXPECT_EQ(g.ids, want);
  EXPECT_TRUE(close(ref.f32("greedy_step_logits"), g.step_logits, ref.shape("greedy_step_logits"), kVsReferenceNmse));
  expect_no_validation_messages(*vk);
}

// ---- the command line --------------------------------------------------------------------

struct ValidationEnv {
  ValidationEnv() { ::setenv("KLLENS_VULKAN_VALIDATION", "1", 1); }
  ~ValidationEnv() { ::unsetenv("KLLENS_VULKAN_VALIDATION"); }
};

TEST(VulkanReplay, GenerateOnVulkanReplaysAndMatchesGreedyIds) {
  const ValidationEnv env;
  const Reference ref("tiny-mamba");
  const std::string prompt = fmt::format("{}", fmt::join(ref.i32("greedy_prompt"), ","));
  const std::string want = fmt::format("ids [{}]", fmt::join(ref.i32("greedy_ids"), ","));
  for (const std::string& dir : {shared_path("fixtures/tiny-mamba"), source_path("models/tiny-mamba")}) {
    const CliResult r = run_cli("generate " + dir + " --prompt-ids " + prompt +
                                " -n 16 --ignore-eos --print-ids --backend vulkan");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("replayed steps"), std::string::npos) << r.err;
  }
}

// Top-k sampling: candidates from Backend::topk on Vulkan, from the CPU kernel on the CPU;
// same seed, same ids.
TEST(VulkanReplay, TopKSamplingSameOnBothBackends) {
  const ValidationEnv env;
  const std::string args = "generate " + shared_path("fixtures/tiny-mamba") +
                           " --prompt 'The jury said' -n 24 --ignore-eos --print-ids"
                           " --temperature 0.8 --top-k 40 --seed 11 --backend ";
  const CliResult c = run_cli(args + "cpu"), v = run_cli(args + "vulkan");
  ASSERT_EQ(c.status, 0) << c.err;
  ASSERT_EQ(v.status, 0) << v.err;
  const auto ids = [](const std::string& err) { return err.substr(err.find("ids ["), err.find(']', err.find("ids [")) - err.find("ids [")); };
  ASSERT_NE(c.err.find("ids ["), std::string::npos) << c.err;
  ASSERT_NE(v.err.find("ids ["), std::string::npos) << v.err;
  EXPECT_EQ(ids(v.err), ids(c.err));
  const CliResult other_seed = run_cli(args.substr(0, args.find("--seed")) + "--seed 12 --backend cpu");
  ASSERT_EQ(other_seed.status, 0) << other_seed.err;
  EXPECT_NE(ids(other_seed.err), ids(c.err)) << "the seed must matter";
}

// --profile: GPU time per kernel after the command's output, one line per kernel that ran.
TEST(VulkanReplay, ProfilePrintsTimePerKernel) {
  const ValidationEnv env;
  const CliResult r = run_cli("bench " + shared_path("fixtures/tiny-mamba") +
                              " --prompt 40 --gen 2 --reps 1 --backend vulkan --profile");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("pp40"), std::string::npos) << r.out;
  for (const char* kernel : {"kernel", "matmul_gemm_f32", "ssm_scan", "conv1d_causal", "rms_norm"})
    EXPECT_NE(r.err.find(kernel), std::string::npos) << kernel << " missing from:\n" << r.err;
}  // the CPU's --profile: tests/test_bench_cli.cpp (BenchCli.CpuProfile...)

}  // namespace
}  // namespace kllens::test
