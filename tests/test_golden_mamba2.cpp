// Golden tests: kllens's CPU Mamba-2 against the PyTorch reference of tiny-mamba2
// (tolerances from ../shared/fixtures/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "kllens/model.h"
#include "kllens/perplexity.h"
#include "kllens/sampling.h"
#include "kllens/tokenizer.h"
#include "kllens/io.h"
#include "core/json.h"
#include "kllens/error.h"
#include "kllens/safetensors.h"
#include "support/compare.h"
#include "support/kernel_cases.h"
#include "support/reference.h"

namespace kllens::test {
namespace {

// fp32 on both sides, different summation orders: the README's CPU tolerance.
constexpr double kLogitsNmse = 1e-9, kLogitsAbs = 1e-3, kStepNmse = 1e-8;

class GoldenMamba2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ref_ = new Reference("tiny-mamba2");
    backend_ = make_cpu_backend().release();
    model_ = Model::load(ref_->model_dir(), *backend_).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete backend_;
    delete ref_;
  }
  static Reference* ref_;
  static Backend* backend_;
  static Model* model_;
};
Reference* GoldenMamba2::ref_ = nullptr;
Backend* GoldenMamba2::backend_ = nullptr;
Model* GoldenMamba2::model_ = nullptr;

TEST_F(GoldenMamba2, PrefillLogitsBatchOfTwo) {
  const Shape s = ref_->shape("input_ids");  // [2, 64]
  const std::vector<float> got = compute_logits(*model_, ref_->i32("input_ids"), s[0], s[1]);
  EXPECT_TRUE(close(ref_->f32("logits"), got, ref_->shape("logits"), kLogitsNmse, kLogitsAbs));
}

TEST_F(GoldenMamba2, PrefillLogitsLong) {
  const Shape s = ref_->shape("input_ids_long");  // [1, 200]
  const std::vector<float> got = compute_logits(*model_, ref_->i32("input_ids_long"), s[0], s[1]);
  EXPECT_TRUE(close(ref_->f32("logits_long"), got, ref_->shape("logits_long"), kLogitsNmse, kLogitsAbs));
}

TEST_F(GoldenMamba2, EveryHiddenState) {
  const Shape s = ref_->shape("input_ids");
  const Shape hs = ref_->shape("hidden_states");  // [L+1, 2, 64, H]
  const int64_t per = hs[1] * hs[2] * hs[3];
  std::vector<float> got(size_t(shape_numel(hs)), NAN);
  auto state = model_->new_state(s[0]);
  model_->forward(ref_->i32("input_ids"), s[0], s[1], *state, Tensor{},
                  [&](int64_t index, const Tensor& h) {
                    backend_->download(h, got.data() + index * per);
                  });
  const std::vector<float> want = ref_->f32("hidden_states");
  for (int64_t l = 0; l < hs[0]; ++l) {
    std::vector<float> a(want.begin() + l * per, want.begin() + (l + 1) * per);
    std::vector<float> b(got.begin() + l * per, got.begin() + (l + 1) * per);
    EXPECT_TRUE(close(a, b, {hs[1], hs[2], hs[3]}, kLogitsNmse, kLogitsAbs)) << "hidden state " << l;
  }
}

TEST_F(GoldenMamba2, GreedyDecodeWithRecurrentState) {
  const std::vector<int32_t> prompt = ref_->i32("greedy_prompt");
  const std::vector<int32_t> want_ids = ref_->i32("greedy_ids");
  const std::vector<float> want_logits = ref_->f32("greedy_step_logits");
  const int64_t V = model_->config().vocab_size, T = int64_t(prompt.size());
  auto state = model_->new_state(1);
  Tensor logits = backend_->alloc(DType::F32, {T, V});
  std::vector<float> got_logits;
  std::vector<int32_t> got_ids;
  std::vector<float> step(static_cast<size_t>(V));
  model_->forward(prompt, 1, T, *state, logits);
  backend_->download(logits.slice_rows(T - 1, 1), step.data());
  // Step i feeds greedy_ids[i] (the argmax of the previous logits); the reference keeps
  // the logits each step produces.
  for (size_t i = 0; i < want_ids.size(); ++i) {
    got_ids.push_back(argmax(step.data(), V));
    model_->forward({got_ids.back()}, 1, 1, *state, logits.slice_rows(0, 1));
    backend_->download(logits.slice_rows(0, 1), step.data());
    got_logits.insert(got_logits.end(), step.begin(), step.end());
  }
  EXPECT_EQ(got_ids, want_ids);
  EXPECT_TRUE(close(want_logits, got_logits, ref_->shape("greedy_step_logits"), kStepNmse));
}

TEST_F(GoldenMamba2, DecodeStepsEqualPrefill) {
  const std::vector<int32_t> ids = ref_->i32("greedy_prompt");
  const int64_t V = model_->config().vocab_size, T = int64_t(ids.size());
  const std::vector<float> prefill = compute_logits(*model_, ids, 1, T);
  auto state = model_->new_state(1);
  Tensor row = backend_->alloc(DType::F32, {1, V});
  std::vector<float> stepped(static_cast<size_t>(T * V));
  for (int64_t t = 0; t < T; ++t) {
    model_->forward({ids[size_t(t)]}, 1, 1, *state, row);
    backend_->download(row, stepped.data() + t * V);
  }
  // Same fp32 math in a different summation order (GEMM vs GEMV): the README's step tolerance.
  EXPECT_TRUE(close(prefill, stepped, {T, V}, kStepNmse));
}

TEST_F(GoldenMamba2, TestSplitPerplexity) {
  auto tok = Tokenizer::load(ref_->model_dir() + "/tokenizer.json");
  std::vector<int32_t> ids = tok->encode(read_file(shared_path("data/brown/test.txt")));
  ASSERT_GE(ids.size(), 8192u);
  ids.resize(8192);
  const PerplexityResult r = perplexity(*model_, ids, 256, 8);
  const double want = ref_->json()["test_ppl"].get<double>();
  EXPECT_EQ(r.windows, 32);
  EXPECT_EQ(r.scored, 32 * 255);
  EXPECT_NEAR(r.ppl() / want - 1, 0, 1e-4) << "ppl " << r.ppl() << " reference " << want;
}

}  // namespace
}  // namespace kllens::test

namespace kllens::test {
namespace {

// Prefix reuse: restarting at block l from the residual stream the full pass delivered
// gives the full pass's logits (same kernels on the same inputs: bit-identical).
TEST(GoldenMamba2Prefix, ForwardFromEveryBlockEqualsFullPass) {
  Reference ref("tiny-mamba2");
  auto be = make_cpu_backend();
  auto model = Model::load(ref.model_dir(), *be);
  const Shape s = ref.shape("input_ids");
  const int64_t rows = s[0] * s[1], V = model->config().vocab_size, H = model->config().hidden_size;
  const int64_t L = model->config().num_layers;
  std::vector<Tensor> hidden;
  auto state = model->new_state(s[0]);
  Tensor full = be->alloc(DType::F32, {rows, V});
  model->forward(ref.i32("input_ids"), s[0], s[1], *state, full, [&](int64_t, const Tensor& h) {
    hidden.push_back(be->alloc(DType::F32, {rows, H}));
    be->copy(h, hidden.back());
  });
  std::vector<float> want(size_t(rows * V)), got(size_t(rows * V));
  be->download(full, want.data());
  Tensor part = be->alloc(DType::F32, {rows, V});
  for (int64_t l = 0; l < L; ++l) {
    ASSERT_EQ(model->resume_block(l), l);
    model->forward_from(l, hidden[size_t(l)], s[0], s[1], part);
    be->download(part, got.data());
    EXPECT_EQ(want, got) << "restart at block " << l;
  }
}

}  // namespace
}  // namespace kllens::test

namespace kllens::test {
namespace {

// The lens sees in_proj and out_proj of every block under their HF names.
TEST(GoldenMamba2Layers, LinearLayersHaveHfNames) {
  Reference ref("tiny-mamba2");
  auto be = make_cpu_backend();
  auto model = Model::load(ref.model_dir(), *be);
  const std::vector<LinearLayer> layers = model->linear_layers();
  std::vector<std::string> want;
  for (const auto& [key, value] : ref.json()["probes"].items()) {
    const std::string name = key.substr(0, key.find('@'));
    if (want.empty() || want.back() != name) want.push_back(name);
  }
  std::vector<std::string> got;
  for (const LinearLayer& l : layers) got.push_back(l.name);
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  std::vector<std::string> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(want, sorted);
  EXPECT_EQ(got[0], "backbone.layers.0.mixer.in_proj");
  EXPECT_EQ(layers[0].weight->out_features(), 584);  // 2I + 2GN + nh
}


// The original mamba_ssm spelling (backbone.embedding.weight) with an untied head
// (tie_word_embeddings false: lm_head.weight is required and used): same logits when the
// head holds the embedding's values; a missing lm_head.weight is an error.
TEST(GoldenMamba2Layers, MambaSsmNamesAndUntiedHead) {
  Reference ref("tiny-mamba2");
  const std::string dir = ::testing::TempDir() + "kllens_mamba2_untied_" +
                          std::to_string(::testing::UnitTest::GetInstance()->random_seed());
  std::filesystem::create_directories(dir);
  const TensorStore store = TensorStore::open_dir(ref.model_dir());
  std::vector<TensorSpec> specs;
  std::vector<const TensorInfo*> src;
  for (const std::string& name : store.names()) {
    const TensorInfo& t = store.get(name);
    specs.push_back({name == "backbone.embeddings.weight" ? "backbone.embedding.weight" : name,
                     t.dtype, t.shape});
    src.push_back(&t);
    if (name == "backbone.embeddings.weight") {
      specs.push_back({"lm_head.weight", t.dtype, t.shape});
      src.push_back(&t);
    }
  }
  auto write = [&](size_t n) {
    write_safetensors(dir + "/model.safetensors", std::vector<TensorSpec>(specs.begin(), specs.begin() + long(n)),
                      [&](size_t i, void* dst, size_t bytes) { std::memcpy(dst, src[i]->data, bytes); });
  };
  nlohmann::json cfg = parse_json_lenient(read_file(ref.model_dir() + "/config.json"), "config.json");
  cfg["tie_word_embeddings"] = false;
  cfg["time_step_limit"] = {0.0, {{"__float__", "Infinity"}}};  // json cannot write +inf; v5 spelling
  write_file_atomic(dir + "/config.json", cfg.dump(2));
  write(specs.size());
  auto be = make_cpu_backend();
  {
    auto model = Model::load(dir, *be);
    const Shape s = ref.shape("input_ids");
    EXPECT_TRUE(close(ref.f32("logits"), compute_logits(*model, ref.i32("input_ids"), s[0], s[1]),
                      ref.shape("logits"), kLogitsNmse, kLogitsAbs));
  }
  std::erase_if(specs, [](const TensorSpec& t) { return t.name == "lm_head.weight"; });
  src.erase(std::find(src.begin(), src.end(), &store.get("backbone.embeddings.weight")) + 1);
  write(specs.size());
  EXPECT_THROW(Model::load(dir, *be), Error);
  std::filesystem::remove_all(dir);
}

// The scalar reference tier of every kernel through the whole model: the same tolerance.
TEST(GoldenMamba2Layers, ScalarTierMatchesReference) {
  Reference ref("tiny-mamba2");
  auto be = make_cpu_backend();
  auto model = Model::load(ref.model_dir(), *be);
  ScalarTier scalar;
  const Shape s = ref.shape("input_ids");
  EXPECT_TRUE(close(ref.f32("logits"), compute_logits(*model, ref.i32("input_ids"), s[0], s[1]),
                    ref.shape("logits"), kLogitsNmse, kLogitsAbs));
}

}  // namespace
}  // namespace kllens::test
