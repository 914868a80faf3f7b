// Mamba-2 and Hymba on Vulkan: tiny-mamba2's and tiny-hymba's logits (prefill, and the
// 200-token window that exercises Hymba's sliding window) and greedy decode, against the
// CPU backend (same model code) and the PyTorch reference, validation layer on.
//
// Bounds: 1e-7 NMSE Vulkan vs CPU (fp32 on both sides; summation order and exp/log ulps
// differ), the fixtures README's golden tolerances against the reference, identical ids.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kllens/error.h"
#include "kllens/model.h"
#include "kllens/sampling.h"
#include "kllens/vulkan.h"
#include "support/compare.h"
#include "support/reference.h"

namespace kllens::test {
namespace {

constexpr double kVsCpuNmse = 1e-7, kLogitsNmse = 1e-9, kLogitsAbs = 1e-3;

std::unique_ptr<Backend> validated_vulkan() {
  VulkanOptions o;
  o.validation = true;
  return make_vulkan_backend(o);
}

class VulkanHybridModel : public ::testing::TestWithParam<const char*> {};

TEST_P(VulkanHybridModel, PrefillLogitsMatchCpuAndReference) {
  const Reference ref(GetParam());
  auto cpu = make_cpu_backend();
  auto vk = validated_vulkan();
  auto cpu_model = Model::load(ref.model_dir(), *cpu);
  auto vk_model = Model::load(ref.model_dir(), *vk);
  for (const char* name : {"input_ids", "input_ids_long"}) {
    const Shape s = ref.shape(name);
    const std::vector<int32_t> ids = ref.i32(name);
    const std::vector<float> want = compute_logits(*cpu_model, ids, s[0], s[1]);
    const std::vector<float> got = compute_logits(*vk_model, ids, s[0], s[1]);
    const Shape ls = {s[0] * s[1], cpu_model->config().vocab_size};
    EXPECT_TRUE(close(want, got, ls, kVsCpuNmse)) << GetParam() << " " << name << " vs CPU";
    const std::string golden = std::string(name) == "input_ids" ? "logits" : "logits_long";
    EXPECT_TRUE(close(ref.f32(golden), got, ls, kLogitsNmse, kLogitsAbs)) << GetParam() << " " << name;
  }
  EXPECT_EQ(vulkan_validation_messages(*vk), 0);
}

TEST_P(VulkanHybridModel, GreedyDecodeMatchesReference) {
  const Reference ref(GetParam());
  auto vk = validated_vulkan();
  auto model = Model::load(ref.model_dir(), *vk);
  const std::vector<int32_t> prompt = ref.i32("greedy_prompt"), want = ref.i32("greedy_ids");
  const int64_t V = model->config().vocab_size, T = int64_t(prompt.size());
  auto state = model->new_state(1);
  Tensor logits = vk->alloc(DType::F32, {T, V});
  std::vector<float> step(static_cast<size_t>(V));
  model->forward(prompt, 1, T, *state, logits);
  vk->download(logits.slice_rows(T - 1, 1), step.data());
  std::vector<int32_t> got;
  for (size_t i = 0; i < want.size(); ++i) {
    got.push_back(argmax(step.data(), V));
    model->forward({got.back()}, 1, 1, *state, logits.slice_rows(0, 1));
    vk->download(logits.slice_rows(0, 1), step.data());
  }
  EXPECT_EQ(got, want) << GetParam();
  EXPECT_EQ(vulkan_validation_messages(*vk), 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, VulkanHybridModel, ::testing::Values("tiny-mamba2", "tiny-hymba"),
                         [](const auto& param_info) {
                           return std::string(param_info.param) == "tiny-mamba2" ? "Mamba2" : "Hymba";
                         });

}  // namespace
}  // namespace kllens::test
