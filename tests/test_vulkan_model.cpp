// The whole Mamba-1 forward on Vulkan: tiny-mamba's logits and greedy decode against the
// CPU backend (same model code, src/models/mamba1.cpp) and against the PyTorch reference,
// with the Khronos validation layer on (any message fails the test).
//
// Bounds: 1e-7 NMSE Vulkan vs CPU (fp32 everywhere on both; only summation order and
// exp/log ulps differ), identical greedy ids, and the golden tolerances of
// test_golden_mamba.cpp against the PyTorch reference.
#include <gtest/gtest.h>

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

// Prints the NMSE of got against ref (for the record), then the gtest assertion.
::testing::AssertionResult near(const char* what, const std::vector<float>& ref,
                                const std::vector<float>& got, const Shape& shape, double nmse,
                                double abs_max = 0) {
  if (ref.size() == got.size()) {
    const Comparison c = compare(ref.data(), got.data(), shape);
    std::printf("    %-28s nmse %.2e  max_abs %.2e\n", what, c.nmse, c.max_abs);
  }
  return close(ref, got, shape, nmse, abs_max);
}

class VulkanModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ref_ = new Reference("tiny-mamba");
    cpu_ = make_cpu_backend().release();
    cpu_model_ = Model::load(ref_->model_dir(), *cpu_).release();
    try {
      VulkanOptions o;
      o.validation = true;
      vk_ = make_vulkan_backend(o).release();
    } catch (const Error& e) {
      if (std::string(e.what()).find("no Vulkan driver") == std::string::npos) throw;
      return;
    }
    vk_model_ = Model::load(ref_->model_dir(), *vk_).release();
  }
  static void TearDownTestSuite() {
    delete vk_model_;
    delete vk_;
    delete cpu_model_;
    delete cpu_;
    delete ref_;
  }
  void SetUp() override {
    if (!vk_) GTEST_SKIP() << "no Vulkan driver installed at all";
  }
  void TearDown() override {
    if (!vk_) return;
    vk_->sync();  // throws on any validation message
    EXPECT_EQ(vulkan_validation_messages(*vk_), 0);
  }

  // Greedy decode after a prompt; returns the ids and every step's logits.
  static std::pair<std::vector<int32_t>, std::vector<float>> greedy(Model& m, Backend& be,
                                                                     const std::vector<int32_t>& prompt,
                                                                     size_t steps) {
    const int64_t V = m.config().vocab_size, T = int64_t(prompt.size());
    auto state = m.new_state(1);
    Tensor logits = be.alloc(DType::F32, {T, V});
    std::vector<float> step(static_cast<size_t>(V)), all;
    std::vector<int32_t> ids;
    m.forward(prompt, 1, T, *state, logits);
    be.download(logits.slice_rows(T - 1, 1), step.data());
    for (size_t i = 0; i < steps; ++i) {
      ids.push_back(argmax(step.data(), V));
      m.forward({ids.back()}, 1, 1, *state, logits.slice_rows(0, 1));
      be.download(logits.slice_rows(0, 1), step.data());
      all.insert(all.end(), step.begin(), step.end());
    }
    return {ids, all};
  }

  static Reference* ref_;
  static Backend *cpu_, *vk_;
  static Model *cpu_model_, *vk_model_;
};
Reference* VulkanModel::ref_ = nullptr;
Backend* VulkanModel::cpu_ = nullptr;
Backend* VulkanModel::vk_ = nullptr;
Model* VulkanModel::cpu_model_ = nullptr;
Model* VulkanModel::vk_model_ = nullptr;

TEST_F(VulkanModel, PrefillLogitsBatchOfTwo) {
  const Shape s = ref_->shape("input_ids");  // [2, 64]
  const auto ids = ref_->i32("input_ids");
  const std::vector<float> cpu = compute_logits(*cpu_model_, ids, s[0], s[1]);
  const std::vector<float> vk = compute_logits(*vk_model_, ids, s[0], s[1]);
  EXPECT_TRUE(near("vulkan vs cpu", cpu, vk, ref_->shape("logits"), kVsCpuNmse));
  EXPECT_TRUE(near("vulkan vs pytorch", ref_->f32("logits"), vk, ref_->shape("logits"), kLogitsNmse, kLogitsAbs));
}

TEST_F(VulkanModel, PrefillLogitsLong) {
  const Shape s = ref_->shape("input_ids_long");  // [1, 200]
  const auto ids = ref_->i32("input_ids_long");
  const std::vector<float> cpu = compute_logits(*cpu_model_, ids, s[0], s[1]);
  const std::vector<float> vk = compute_logits(*vk_model_, ids, s[0], s[1]);
  EXPECT_TRUE(near("vulkan vs cpu", cpu, vk, ref_->shape("logits_long"), kVsCpuNmse));
  EXPECT_TRUE(near("vulkan vs pytorch", ref_->f32("logits_long"), vk, ref_->shape("logits_long"), kLogitsNmse, kLogitsAbs));
}

TEST_F(VulkanModel, GreedyDecodeMatchesCpuAndReference) {
  const std::vector<int32_t> prompt = ref_->i32("greedy_prompt");
  const std::vector<int32_t> want = ref_->i32("greedy_ids");
  const auto [cpu_ids, cpu_logits] = greedy(*cpu_model_, *cpu_, prompt, want.size());
  const auto [vk_ids, vk_logits] = greedy(*vk_model_, *vk_, prompt, want.size());
  EXPECT_EQ(vk_ids, cpu_ids);
  EXPECT_EQ(vk_ids, want);
  EXPECT_TRUE(near("step logits vulkan vs cpu", cpu_logits, vk_logits, ref_->shape("greedy_step_logits"), kVsCpuNmse));
}

}  // namespace
}  // namespace kllens::test
