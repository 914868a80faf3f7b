// Golden tests: every fixture model (tiny-mamba, tiny-mamba2, tiny-hymba) on every backend
// (CPU; Vulkan with the Khronos validation layer on, where any message fails the test)
// against the PyTorch reference in ../shared/fixtures, and Vulkan against the CPU backend
// running the same model code.
//
// Bounds, from ../shared/fixtures/README.md:
//   logits and hidden states vs the reference   NMSE ≤ 1e-9, max |Δ| ≤ 1e-3 (fp32 on both
//                                                sides, different summation orders)
//   Vulkan vs CPU                                NMSE ≤ 1e-7 (fp32 on both; summation order
//                                                and exp/log ulps differ)
//   greedy ids                                   identical (to the reference and the CPU)
//   step logits, decode vs prefill               NMSE ≤ 1e-8 (GEMV vs GEMM, recurrent step
//                                                vs chunked scan: other summation orders)
//   test_ppl                                     relative difference ≤ 1e-4
//   restart from a cached residual (forward_from) bit-identical (same kernels, same inputs)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/model.h"
#include "kllens/safetensors.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"
#endif
#include "support/compare.h"
#include "support/kernel_cases.h"
#include "support/reference.h"

namespace kllens::test {
namespace {

constexpr double kLogitsNmse = 1e-9, kLogitsAbs = 1e-3, kStepNmse = 1e-8, kVsCpuNmse = 1e-7;
constexpr double kPplRel = 1e-4;

// ---- the models of a test process ----------------------------------------------------------

// Backends and models are made once per process (ctest runs every test in its own process;
// running the binary alone runs all of them in one). The backends are members declared
// first, so they outlive the models made on them.
class Session {
 public:
  static Session& get() {
    static Session s;
    return s;
  }
  Backend& cpu() { return *cpu_; }
  Backend& cpu_reference() { return *cpu_reference_; }
  // The validated Vulkan backend, or nullptr when no Vulkan driver is installed at all.
  Backend* vulkan() {
#ifdef KLLENS_HAVE_VULKAN
    if (!vk_tried_) {
      vk_tried_ = true;
      try {
        VulkanOptions o;
        o.validation = true;
        vk_ = make_vulkan_backend(o);
        std::printf("vulkan device: %s\n", vulkan_device_summary(*vk_).c_str());
      } catch (const Error& e) {
        if (std::string(e.what()).find("no Vulkan driver") == std::string::npos) throw;
        std::printf("no Vulkan driver: %s\n", e.what());
      }
    }
#endif
    return vk_.get();
  }
  const Reference& ref(const std::string& fixture) {
    auto& r = refs_[fixture];
    if (!r) r = std::make_unique<Reference>(fixture);
    return *r;
  }
  Model& model(const std::string& fixture, bool on_vulkan) {
    auto& m = models_[{fixture, on_vulkan}];
    if (!m) m = Model::load(ref(fixture).model_dir(), on_vulkan ? *vulkan() : cpu());
    return *m;
  }
  // The model on the CPU backend's scalar reference tier.
  Model& reference_model(const std::string& fixture) {
    auto& m = reference_models_[fixture];
    if (!m) m = Model::load(ref(fixture).model_dir(), cpu_reference());
    return *m;
  }

 private:
  Session()
      : cpu_(make_cpu_backend(best_cpu_tier())), cpu_reference_(make_cpu_backend(CpuTier::reference)) {}
  std::unique_ptr<Backend> cpu_, cpu_reference_, vk_;
  bool vk_tried_ = false;
  std::map<std::string, std::unique_ptr<Reference>> refs_;
  std::map<std::pair<std::string, bool>, std::unique_ptr<Model>> models_;
  std::map<std::string, std::unique_ptr<Model>> reference_models_;
};

// ---- fixture × backend ---------------------------------------------------------------------

struct GoldenCase {
  const char* fixture;       // ../shared/fixtures/<fixture>
  const char* name;          // its part of the test name
  bool vulkan;
  int64_t kv_consumer = -1;  // a block that reads another's K/V (Hymba kv_reuse_group) …
  int64_t kv_producer = -1;  // … and that block: a restart of the consumer begins there
};

void PrintTo(const GoldenCase& c, std::ostream* os) {
  *os << c.fixture << (c.vulkan ? " on vulkan" : " on cpu");
}

class Golden : public ::testing::TestWithParam<GoldenCase> {
 protected:
  void SetUp() override {
    if (GetParam().vulkan && !Session::get().vulkan())
      GTEST_SKIP() << "no Vulkan driver installed at all";
  }
  void TearDown() override {
#ifdef KLLENS_HAVE_VULKAN
    if (!GetParam().vulkan || !Session::get().vulkan()) return;
    Backend& vk = *Session::get().vulkan();
    vk.sync();  // throws on any validation message
    EXPECT_EQ(vulkan_validation_messages(vk), 0);
#endif
  }

  static const Reference& ref() { return Session::get().ref(GetParam().fixture); }
  static Model& model() { return Session::get().model(GetParam().fixture, GetParam().vulkan); }
  // The same fixture on the CPU backend, the reference tier for Vulkan.
  static Model& cpu_model() { return Session::get().model(GetParam().fixture, false); }
  static bool vulkan() { return GetParam().vulkan; }
  static std::string tag(const std::string& what) {
    return std::string(GetParam().fixture) + (vulkan() ? " vulkan " : " cpu ") + what;
  }

  // Prefill logits of reference window `ids` against the reference's `logits`, and
  // (Vulkan) against the CPU backend.
  static void check_prefill(const std::string& ids_name, const std::string& logits_name) {
    const Shape s = ref().shape(ids_name), ls = ref().shape(logits_name);
    const std::vector<int32_t> ids = ref().i32(ids_name);
    const std::vector<float> got = compute_logits(model(), ids, s[0], s[1]);
    EXPECT_TRUE(close_reported(tag(logits_name + " vs reference"), ref().f32(logits_name), got, ls,
                               kLogitsNmse, kLogitsAbs));
    if (vulkan()) {
      EXPECT_TRUE(close_reported(tag(logits_name + " vs cpu"),
                                 compute_logits(cpu_model(), ids, s[0], s[1]), got, ls, kVsCpuNmse));
    }
  }
};

TEST_P(Golden, PrefillLogitsBatchOfTwo) { check_prefill("input_ids", "logits"); }  // [2, 64]

// [1, 200]: past tiny-hymba's 64-token sliding window.
TEST_P(Golden, PrefillLogitsLong) { check_prefill("input_ids_long", "logits_long"); }

// The residual stream after the embedding and after every block (Hymba: meta rows first).
TEST_P(Golden, EveryHiddenState) {
  const Shape s = ref().shape("input_ids");
  const Shape hs = ref().shape("hidden_states");  // [L+1, 2, S, H]
  const std::vector<int32_t> ids = ref().i32("input_ids");
  const std::vector<float> want = ref().f32("hidden_states");
  const std::vector<float> got = hidden_states(model(), ids, s[0], s[1], hs);
  std::vector<float> cpu;
  if (vulkan()) cpu = hidden_states(cpu_model(), ids, s[0], s[1], hs);
  const int64_t per = hs[1] * hs[2] * hs[3];
  auto part = [&](const std::vector<float>& v, int64_t l) {
    return std::vector<float>(v.begin() + l * per, v.begin() + (l + 1) * per);
  };
  for (int64_t l = 0; l < hs[0]; ++l) {
    const std::string what = "hidden state " + std::to_string(l);
    EXPECT_TRUE(close_reported(tag(what + " vs reference"), part(want, l), part(got, l),
                               {hs[1], hs[2], hs[3]}, kLogitsNmse, kLogitsAbs));
    if (vulkan()) {
      EXPECT_TRUE(close_reported(tag(what + " vs cpu"), part(cpu, l), part(got, l),
                                 {hs[1], hs[2], hs[3]}, kVsCpuNmse));
    }
  }
}

// Greedy decoding with the recurrent state (and KV caches): the reference's ids and the
// logits of every step.
TEST_P(Golden, GreedyDecodeWithRecurrentState) {
  const std::vector<int32_t> want_ids = ref().i32("greedy_ids");
  const Shape ls = ref().shape("greedy_step_logits");  // [16, V]
  const GreedyRun run = greedy_decode(model(), ref().i32("greedy_prompt"), want_ids.size());
  EXPECT_EQ(run.ids, want_ids);
  EXPECT_EQ(run.device_argmax, run.host_argmax);  // the Decoder's greedy output
  EXPECT_TRUE(close_reported(tag("step logits vs reference"), ref().f32("greedy_step_logits"),
                             run.step_logits, ls, kStepNmse));
  if (vulkan()) {
    const GreedyRun cpu = greedy_decode(cpu_model(), ref().i32("greedy_prompt"), want_ids.size());
    EXPECT_EQ(run.ids, cpu.ids);
    EXPECT_TRUE(close_reported(tag("step logits vs cpu"), cpu.step_logits, run.step_logits, ls,
                               kVsCpuNmse));
  }
}

// One token at a time from a fresh state gives the prefill's logits (GEMV vs GEMM,
// recurrent step vs chunked scan: the step tolerance).
TEST_P(Golden, DecodeStepsEqualPrefill) {
  const std::vector<int32_t> ids = ref().i32("greedy_prompt");
  const int64_t V = model().config().vocab_size, T = int64_t(ids.size());
  const std::vector<float> prefill = compute_logits(model(), ids, 1, T);
  EXPECT_TRUE(close_reported(tag("decoded vs prefill"), prefill,
                             prefill_then_decode(model(), ids, 1, T, 0), {T, V}, kStepNmse));
}

// Decoding the 200-token window after a prefill of its first P tokens, against the
// reference's prefill logits. P = 120: a prefill past tiny-hymba's 64-token window, then
// decode steps over ring-buffer caches. P = 0: every token decoded; the sliding-window
// caches grow from empty and then wrap as rings of meta + W + 1 slots. P = 0 runs on the
// CPU for every fixture and on Vulkan (about 50 ms per validated decode step on lavapipe)
// where there is a sliding window to wrap.
TEST_P(Golden, DecodeLongWindowMatchesReference) {
  const Shape s = ref().shape("input_ids_long");  // [1, 200]
  const std::vector<int32_t> ids = ref().i32("input_ids_long");
  const std::vector<float> want = ref().f32("logits_long");
  std::vector<int64_t> prefills = {120};
  if (!vulkan() || model().config().sliding_window > 0) prefills.insert(prefills.begin(), 0);
  for (int64_t P : prefills)
    EXPECT_TRUE(close_reported(tag("prefill " + std::to_string(P) + " + decode vs reference"), want,
                               prefill_then_decode(model(), ids, s[0], s[1], P),
                               ref().shape("logits_long"), kStepNmse));
}

// Two sequences at once: a prefill of 40 tokens each, then 24 decode steps of both.
TEST_P(Golden, BatchOfTwoDecodeMatchesReference) {
  const Shape s = ref().shape("input_ids");  // [2, 64]
  EXPECT_TRUE(close_reported(tag("batch of two, prefill 40 + decode vs reference"),
                             ref().f32("logits"),
                             prefill_then_decode(model(), ref().i32("input_ids"), s[0], s[1], 40),
                             ref().shape("logits"), kStepNmse));
}

// The fixtures' test_ppl protocol over 8192 tokens. On lavapipe this is the costliest test
// of the suite (measured 60 / 75 / 124 CPU-seconds for tiny-mamba / tiny-mamba2 /
// tiny-hymba, nearly all of it in matmul_gemm at about 0.35 GFLOP/s); it is the only
// Vulkan run of the exact protocol, so it stays whole.
TEST_P(Golden, TestSplitPerplexity) {
  const PerplexityResult r = test_split_perplexity(model(), ref());
  const double want = ref().json()["test_ppl"].get<double>();
  std::printf("    %s: ppl %.9g, reference %.9g, rel %.2e, %.0f tokens/s\n", tag("test_ppl").c_str(),
              r.ppl(), want, r.ppl() / want - 1, r.tokens_per_second());
  EXPECT_EQ(r.windows, 32);
  EXPECT_EQ(r.scored, 32 * 255);
  EXPECT_NEAR(r.ppl() / want - 1, 0, kPplRel) << "ppl " << r.ppl() << " reference " << want;
}

// Prefix reuse: restarting at block l (or at the producer of the K/V it reads, see
// resume_block) from the residual stream the full pass delivered (Hymba: meta rows
// included) gives the full pass's logits bit for bit.
TEST_P(Golden, ForwardFromEveryBlockEqualsFullPass) {
  Model& m = model();
  Backend& be = m.backend();
  const Shape s = ref().shape("input_ids");
  const int64_t rows = s[0] * s[1], V = m.config().vocab_size, H = m.config().hidden_size;
  const int64_t L = m.config().num_layers, M = m.config().num_meta_tokens;
  std::vector<Tensor> hidden;
  auto state = m.new_state(s[0]);
  Tensor full = be.alloc(DType::F32, {rows, V});
  m.forward(ref().i32("input_ids"), s[0], s[1], *state, full, [&](int64_t, const Tensor& h) {
    EXPECT_EQ(h.rows(), s[0] * (M + s[1]));
    hidden.push_back(be.alloc(DType::F32, {h.rows(), H}));
    be.copy(h, hidden.back());
  });
  ASSERT_EQ(int64_t(hidden.size()), L + 1);
  std::vector<float> want(size_t(rows * V)), got(size_t(rows * V));
  be.download(full, want.data());
  Tensor part = be.alloc(DType::F32, {rows, V});
  for (int64_t l = 0; l < L; ++l) {
    const int64_t first = m.resume_block(l);
    EXPECT_EQ(first, l == GetParam().kv_consumer ? GetParam().kv_producer : l) << "block " << l;
    m.forward_from(first, hidden[size_t(first)], s[0], s[1], part);
    be.download(part, got.data());
    EXPECT_TRUE(want == got) << tag("restart at block ") << first;
  }
}

const GoldenCase kCases[] = {
    {"tiny-mamba", "Mamba", false},
    {"tiny-mamba2", "Mamba2", false},
    {"tiny-hymba", "Hymba", false, 2, 1},  // kv_reuse_group [[1, 2]]
#ifdef KLLENS_HAVE_VULKAN
    {"tiny-mamba", "Mamba", true},
    {"tiny-mamba2", "Mamba2", true},
    {"tiny-hymba", "Hymba", true, 2, 1},
#endif
};

INSTANTIATE_TEST_SUITE_P(Fixtures, Golden, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<GoldenCase>& param_info) {
                           const GoldenCase& c = param_info.param;
                           return std::string(c.name) + (c.vulkan ? "_Vulkan" : "_Cpu");
                         });

// ---- fixture only (CPU) ------------------------------------------------------------------

class GoldenCpu : public ::testing::TestWithParam<const char*> {
 protected:
  static const Reference& ref() { return Session::get().ref(GetParam()); }
  static Model& model() { return Session::get().model(GetParam(), false); }
};

// The scalar reference tier of every kernel through the whole model (Hymba: meta tokens,
// both attention kinds, KV reuse), both reference windows: the same tolerance.
TEST_P(GoldenCpu, ScalarTierMatchesReference) {
  Model& scalar = Session::get().reference_model(GetParam());
  for (const auto& [ids_name, logits_name] :
       {std::pair<std::string, std::string>{"input_ids", "logits"}, {"input_ids_long", "logits_long"}}) {
    const Shape s = ref().shape(ids_name);
    EXPECT_TRUE(close_reported(std::string(GetParam()) + " scalar " + logits_name,
                               ref().f32(logits_name),
                               compute_logits(scalar, ref().i32(ids_name), s[0], s[1]),
                               ref().shape(logits_name), kLogitsNmse, kLogitsAbs));
  }
}

// The lens sees exactly the layers the reference probed, under their HF names, each in
// the block its name says.
TEST_P(GoldenCpu, LinearLayersAreTheProbedLayers) {
  std::vector<std::string> want, got;
  for (const auto& [key, value] : ref().json()["probes"].items())
    want.push_back(key.substr(0, key.find('@')));
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  for (const LinearLayer& l : model().linear_layers()) {
    got.push_back(l.name);
    const size_t at = l.name.find("layers.");
    ASSERT_NE(at, std::string::npos) << l.name;
    EXPECT_EQ(l.block, std::stoll(l.name.substr(at + 7))) << l.name;
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenCpu, ::testing::Values("tiny-mamba", "tiny-mamba2", "tiny-hymba"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           const std::string f = param_info.param;
                           return f == "tiny-mamba" ? "Mamba" : f == "tiny-mamba2" ? "Mamba2" : "Hymba";
                         });

// ---- one architecture's specifics ----------------------------------------------------------

TEST(GoldenMamba2, LinearLayerOrderAndShape) {
  const std::vector<LinearLayer> layers = Session::get().model("tiny-mamba2", false).linear_layers();
  ASSERT_EQ(layers.size(), 16u);
  EXPECT_EQ(layers[0].name, "backbone.layers.0.mixer.in_proj");
  EXPECT_EQ(layers[0].weight->out_features(), 584);  // 2I + 2GN + nh
}

// The original mamba_ssm spelling (backbone.embedding.weight) with an untied head
// (tie_word_embeddings false: lm_head.weight is required and used): same logits when the
// head holds the embedding's values; a missing lm_head.weight is an error.
TEST(GoldenMamba2, MambaSsmNamesAndUntiedHead) {
  const Reference ref("tiny-mamba2");
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
  auto be = make_cpu_backend(best_cpu_tier());
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

TEST(GoldenHymba, LinearLayerOrderAndShapes) {
  const std::vector<LinearLayer> layers = Session::get().model("tiny-hymba", false).linear_layers();
  ASSERT_EQ(layers.size(), 6u * 7u);
  EXPECT_EQ(layers[1].name, "model.layers.0.mamba.x_proj.0");
  EXPECT_EQ(layers[6].name, "model.layers.0.moe.experts.0.down_proj");
  EXPECT_EQ(layers[7].weight->out_features(), 832);   // layer 1: q | k | v | x | z
  EXPECT_EQ(layers[14].weight->out_features(), 640);  // layer 2 (consumer): q | x | z
}

}  // namespace
}  // namespace kllens::test
