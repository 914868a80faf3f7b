// Golden tests: kllens's CPU Hymba against the PyTorch reference of tiny-hymba
// (tolerances from ../shared/fixtures/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kllens/model.h"
#include "kllens/perplexity.h"
#include "kllens/sampling.h"
#include "kllens/tokenizer.h"
#include "kllens/io.h"
#include "support/compare.h"
#include "support/kernel_cases.h"
#include "support/reference.h"

namespace kllens::test {
namespace {

// fp32 on both sides, different summation orders: the README's CPU tolerance.
constexpr double kLogitsNmse = 1e-9, kLogitsAbs = 1e-3, kStepNmse = 1e-8;

class GoldenHymba : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ref_ = new Reference("tiny-hymba");
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
Reference* GoldenHymba::ref_ = nullptr;
Backend* GoldenHymba::backend_ = nullptr;
Model* GoldenHymba::model_ = nullptr;

TEST_F(GoldenHymba, PrefillLogitsBatchOfTwo) {
  const Shape s = ref_->shape("input_ids");  // [2, 64]
  const std::vector<float> got = compute_logits(*model_, ref_->i32("input_ids"), s[0], s[1]);
  EXPECT_TRUE(close(ref_->f32("logits"), got, ref_->shape("logits"), kLogitsNmse, kLogitsAbs));
}

// 200 tokens: past the 64-token window of the sliding-window layers.
TEST_F(GoldenHymba, PrefillLogitsLong) {
  const Shape s = ref_->shape("input_ids_long");  // [1, 200]
  const std::vector<float> got = compute_logits(*model_, ref_->i32("input_ids_long"), s[0], s[1]);
  EXPECT_TRUE(close(ref_->f32("logits_long"), got, ref_->shape("logits_long"), kLogitsNmse, kLogitsAbs));
}

TEST_F(GoldenHymba, EveryHiddenState) {
  const Shape s = ref_->shape("input_ids");
  const Shape hs = ref_->shape("hidden_states");  // [L+1, 2, M + 64, H]: meta rows first
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

TEST_F(GoldenHymba, GreedyDecodeWithRecurrentState) {
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

TEST_F(GoldenHymba, DecodeStepsEqualPrefill) {
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

// Decoding past the 64-token window: a prefill of the first P tokens of input_ids_long,
// then one token at a time to 200 (P = 0: every token decoded; the SWA caches grow from
// empty and then wrap as rings of meta + W + 1 slots), against the reference's prefill
// logits. fp32 on both sides in another order: the README's step tolerance.
TEST_F(GoldenHymba, DecodePastTheWindowMatchesPrefill) {
  const std::vector<int32_t> ids = ref_->i32("input_ids_long");
  const std::vector<float> want = ref_->f32("logits_long");
  const int64_t V = model_->config().vocab_size, T = int64_t(ids.size());
  for (int64_t P : {int64_t(0), int64_t(120)}) {
    auto state = model_->new_state(1);
    Tensor logits = backend_->alloc(DType::F32, {T, V});
    if (P > 0)
      model_->forward(std::vector<int32_t>(ids.begin(), ids.begin() + P), 1, P, *state,
                      logits.slice_rows(0, P));
    for (int64_t t = P; t < T; ++t)
      model_->forward({ids[size_t(t)]}, 1, 1, *state, logits.slice_rows(t, 1));
    std::vector<float> got(size_t(T * V));
    backend_->download(logits, got.data());
    EXPECT_TRUE(close(want, got, {T, V}, kStepNmse)) << "prefill of " << P;
  }
}

// Two sequences at once: a prefill of 40 tokens, then 24 decode steps of both.
TEST_F(GoldenHymba, BatchOfTwoDecodeMatchesPrefill) {
  const std::vector<int32_t> ids = ref_->i32("input_ids");  // [2, 64]
  const std::vector<float> want = ref_->f32("logits");
  const int64_t V = model_->config().vocab_size, T = 64, P = 40;
  auto state = model_->new_state(2);
  std::vector<int32_t> prompt;
  for (int64_t b = 0; b < 2; ++b)
    prompt.insert(prompt.end(), ids.begin() + b * T, ids.begin() + b * T + P);
  Tensor pl = backend_->alloc(DType::F32, {2 * P, V});
  model_->forward(prompt, 2, P, *state, pl);
  std::vector<float> got(size_t(2 * T * V));
  for (int64_t b = 0; b < 2; ++b)
    backend_->download(pl.slice_rows(b * P, P), got.data() + b * T * V);
  Tensor row = backend_->alloc(DType::F32, {2, V});
  for (int64_t t = P; t < T; ++t) {
    model_->forward({ids[size_t(t)], ids[size_t(T + t)]}, 2, 1, *state, row);
    for (int64_t b = 0; b < 2; ++b)
      backend_->download(row.slice_rows(b, 1), got.data() + (b * T + t) * V);
  }
  EXPECT_TRUE(close(want, got, {2, T, V}, kStepNmse));
}

TEST_F(GoldenHymba, TestSplitPerplexity) {
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

// Prefix reuse: restarting at block l (or at the producer of the K/V it reads, see
// resume_block) from the residual stream the full pass delivered (meta rows included)
// gives the full pass's logits (same kernels on the same inputs: bit-identical).
TEST(GoldenHymbaPrefix, ForwardFromEveryBlockEqualsFullPass) {
  Reference ref("tiny-hymba");
  auto be = make_cpu_backend();
  auto model = Model::load(ref.model_dir(), *be);
  const Shape s = ref.shape("input_ids");
  const int64_t rows = s[0] * s[1], V = model->config().vocab_size, H = model->config().hidden_size;
  const int64_t L = model->config().num_layers, M = model->config().num_meta_tokens;
  std::vector<Tensor> hidden;
  auto state = model->new_state(s[0]);
  Tensor full = be->alloc(DType::F32, {rows, V});
  model->forward(ref.i32("input_ids"), s[0], s[1], *state, full, [&](int64_t, const Tensor& h) {
    EXPECT_EQ(h.rows(), s[0] * (M + s[1]));
    hidden.push_back(be->alloc(DType::F32, {h.rows(), H}));
    be->copy(h, hidden.back());
  });
  std::vector<float> want(size_t(rows * V)), got(size_t(rows * V));
  be->download(full, want.data());
  Tensor part = be->alloc(DType::F32, {rows, V});
  for (int64_t l = 0; l < L; ++l) {
    const int64_t first = model->resume_block(l);
    // tiny-hymba: kv_reuse_group [[1, 2]]: block 2 reads block 1's K/V.
    EXPECT_EQ(first, l == 2 ? 1 : l);
    model->forward_from(first, hidden[size_t(first)], s[0], s[1], part);
    be->download(part, got.data());
    EXPECT_EQ(want, got) << "restart at block " << first;
  }
}

// The lens sees every linear layer of every block under its HF name.
TEST(GoldenHymbaPrefix, LinearLayersHaveHfNames) {
  Reference ref("tiny-hymba");
  auto be = make_cpu_backend();
  auto model = Model::load(ref.model_dir(), *be);
  const std::vector<LinearLayer> layers = model->linear_layers();
  ASSERT_EQ(layers.size(), 6u * 7u);
  std::vector<std::string> want_probes;
  for (const auto& [key, value] : ref.json()["probes"].items())
    want_probes.push_back(key.substr(0, key.find('@')));
  for (const LinearLayer& l : layers) {
    EXPECT_NE(std::find(want_probes.begin(), want_probes.end(), l.name), want_probes.end()) << l.name;
    EXPECT_EQ(l.block, std::stoll(l.name.substr(13)));  // "model.layers.<i>."
  }
  EXPECT_EQ(layers[1].name, "model.layers.0.mamba.x_proj.0");
  EXPECT_EQ(layers[6].name, "model.layers.0.moe.experts.0.down_proj");
  EXPECT_EQ(layers[7].weight->out_features(), 832);   // layer 1: q | k | v | x | z
  EXPECT_EQ(layers[14].weight->out_features(), 640);  // layer 2 (consumer): q | x | z
}


// The scalar reference tier of every kernel through the whole model (meta tokens, both
// attention kinds, KV reuse): the same tolerance.
TEST(GoldenHymbaPrefix, ScalarTierMatchesReference) {
  Reference ref("tiny-hymba");
  auto be = make_cpu_backend();
  auto model = Model::load(ref.model_dir(), *be);
  ScalarTier scalar;
  const Shape s = ref.shape("input_ids_long");
  EXPECT_TRUE(close(ref.f32("logits_long"), compute_logits(*model, ref.i32("input_ids_long"), s[0], s[1]),
                    ref.shape("logits_long"), kLogitsNmse, kLogitsAbs));
}

}  // namespace
}  // namespace kllens::test
