// GGUF export and import on the fixture models (CPU backend):
//   - GGUF → kllens gives bit-identical logits to the source model with the file's plan
//     applied in memory (same weight bytes, same kernels: nothing may differ at all);
//   - llama.cpp's conventions in the file (names, shapes, A = −exp(A_log), types, keys);
//   - the plan's per-channel layers re-blocked, rows that are not whole 32-blocks in the
//     float type, both reported;
//   - the tokenizer read back encodes like the folder's;
//   - bad files fail at open with one line naming the file, before any tensor is built.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "kllens/error.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"
#include "kllens/io.h"
#include "kllens/lens.h"
#include "kllens/model.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"
#endif
#include "support/cli.h"
#include "support/compare.h"
#include "support/reference.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;

std::string tmp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("kllens_test_gguf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

// A plan mixing every case: group-32 Q8_0 and Q4_0, per-channel Q4 and Q8 (re-blocked),
// and (Mamba-1's dt_proj, K = 8) rows that are not whole 32-blocks.
std::map<std::string, QuantSpec> mixed_plan(Model& m) {
  std::map<std::string, QuantSpec> plan;
  const QuantSpec specs[] = {{8, 32}, {4, 0}, {4, 32}, {8, 0}};
  int i = 0;
  for (const LinearLayer& l : m.linear_layers()) plan[l.name] = specs[i++ % 4];
  return plan;
}

// The source model with the file's types applied: what GGUF → kllens must reproduce.
std::vector<float> planned_logits(const std::string& dir, const GgufExportResult& res,
                                  const std::vector<int32_t>& ids, int64_t B, int64_t T) {
  auto cpu = make_cpu_backend(best_cpu_tier());
  auto m = Model::load(dir, *cpu);
  std::vector<std::unique_ptr<WeightSwap>> guards;
  for (const LinearLayer& l : m->linear_layers()) {
    const DType t = res.linear_types.at(l.name);
    if (!dtype_is_quantized(t)) continue;
    // Q8_0/Q4_0 in the file: q8_g32 / q4_g32 (the plan's own, or re-blocked channels).
    guards.push_back(std::make_unique<WeightSwap>(
        l.weight, quantize_weight(*cpu, *l.weight, QuantSpec{t == DType::Q8_0 ? 8 : 4, 32})));
  }
  return compute_logits(*m, ids, B, T);
}

class GgufRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(GgufRoundTrip, MixedPlanGivesTheSameLogitsAsThePlanInMemory) {
  const Reference ref(GetParam());
  const std::string dir = ref.model_dir();
  auto cpu = make_cpu_backend(best_cpu_tier());
  auto src = Model::load(dir, *cpu);
  GgufExportOptions opt;
  opt.float_type = DType::F32;
  opt.layers = mixed_plan(*src);
  const std::string out = tmp_path(std::string(GetParam()) + "_mixed.gguf");
  const GgufExportResult res = export_gguf(dir, opt, out);
  EXPECT_EQ(res.file_bytes, fs::file_size(out));
  EXPECT_EQ(res.llama_cpp_arch, std::string(GetParam()) != "tiny-hymba");

  // Every per-channel layer is listed as re-blocked or as a float fallback.
  for (const auto& [name, spec] : opt.layers) {
    const DType t = res.linear_types.at(name);
    const bool listed = std::any_of(res.changes.begin(), res.changes.end(),
                                    [&](const GgufLayerChange& c) { return c.layer == name; });
    if (spec.group == 0 || !dtype_is_quantized(t)) EXPECT_TRUE(listed) << name;
    else EXPECT_FALSE(listed) << name;
  }

  const std::vector<int32_t> ids = ref.i32("input_ids");
  const Shape s = ref.shape("input_ids");
  auto g = Model::load(out, *cpu);
  EXPECT_EQ(g->config().to_json().dump(), src->config().to_json().dump());
  const std::vector<float> got = compute_logits(*g, ids, s[0], s[1]);
  const std::vector<float> want = planned_logits(dir, res, ids, s[0], s[1]);
  ASSERT_EQ(got.size(), want.size());
  size_t diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff += std::memcmp(&got[i], &want[i], 4) != 0;
  EXPECT_EQ(diff, 0u) << "logits differ at " << diff << " of " << got.size() << " positions";
}

TEST_P(GgufRoundTrip, TokenizerReadBackEncodesLikeTheFolder) {
  const Reference ref(GetParam());
  const std::string out = tmp_path(std::string(GetParam()) + "_f16.gguf");
  export_gguf(ref.model_dir(), {}, out);
  const std::string text = read_file(std::string(KLLENS_SHARED_DIR) + "/data/brown/valid.txt").substr(0, 20000);
  auto want = Tokenizer::load(ref.model_dir() + "/tokenizer.json");
  auto got = load_gguf_tokenizer(out);
  EXPECT_EQ(got->encode(text), want->encode(text));
  EXPECT_EQ(got->eos_id(), want->eos_id());
}

#ifdef KLLENS_HAVE_VULKAN
// The same file on Vulkan (lavapipe in CI, validation layer on: any message fails) against
// the CPU. Bound: the fixtures' Vulkan-vs-CPU fp32 bound, NMSE ≤ 1e-7 — both dequantise the
// same blocks exactly and accumulate in fp32, in other orders.
TEST_P(GgufRoundTrip, RunsOnVulkanAsOnTheCpu) {
  std::unique_ptr<Backend> vk;
  try {
    VulkanOptions o;
    o.validation = true;
    vk = make_vulkan_backend(o);
  } catch (const Error& e) {
    if (std::string(e.what()).find("no Vulkan driver") == std::string::npos) throw;
    GTEST_SKIP() << "no Vulkan driver: " << e.what();
  }
  const Reference ref(GetParam());
  auto cpu = make_cpu_backend(best_cpu_tier());
  GgufExportOptions opt;
  opt.layers = mixed_plan(*Model::load(ref.model_dir(), *cpu));
  const std::string out = tmp_path(std::string(GetParam()) + "_vk.gguf");
  export_gguf(ref.model_dir(), opt, out);
  const std::vector<int32_t> ids = ref.i32("input_ids");
  const Shape s = ref.shape("input_ids");
  const std::vector<float> want = compute_logits(*Model::load(out, *cpu), ids, s[0], s[1]);
  const std::vector<float> got = compute_logits(*Model::load(out, *vk), ids, s[0], s[1]);
  EXPECT_TRUE(close_reported(std::string(GetParam()) + " gguf vulkan vs cpu", want, got,
                             {s[0] * s[1], int64_t(want.size()) / (s[0] * s[1])}, 1e-7));
}
#endif

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufRoundTrip,
                         ::testing::Values("tiny-mamba", "tiny-mamba2", "tiny-hymba"));

// ---- llama.cpp's conventions ------------------------------------------------------------

TEST(GgufExport, Mamba1FollowsLlamaCppConventions) {
  const Reference ref("tiny-mamba");
  const std::string out = tmp_path("conventions_mamba.gguf");
  GgufExportOptions opt;
  opt.layers["backbone.layers.0.mixer.in_proj"] = QuantSpec{4, 32};
  opt.layers["backbone.layers.0.mixer.dt_proj"] = QuantSpec{4, 32};  // K = 8
  const GgufExportResult res = export_gguf(ref.model_dir(), opt, out);
  auto f = GgufFile::open(out);
  EXPECT_EQ(f->get_string("general.architecture"), "mamba");
  EXPECT_EQ(f->get_uint("mamba.block_count"), 8u);
  EXPECT_EQ(f->get_uint("mamba.ssm.inner_size"), 256u);
  EXPECT_EQ(f->get_uint("mamba.ssm.time_step_rank"), 8u);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_bos_token", true));
  EXPECT_EQ(f->find("output.weight"), nullptr);  // tied head omitted
  const GgufTensor* conv = f->find("blk.0.ssm_conv1d.weight");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->shape, (Shape{256, 4}));  // ggml ne {4, 256}: squeezed
  EXPECT_EQ(f->find("blk.0.ssm_in.weight")->dtype, DType::Q4_0);
  EXPECT_EQ(f->find("blk.0.ssm_dt.weight")->dtype, DType::F16);  // fallback
  EXPECT_EQ(f->find("blk.1.ssm_in.weight")->dtype, DType::F16);
  EXPECT_EQ(f->find("token_embd.weight")->dtype, DType::F16);
  EXPECT_EQ(f->find("blk.0.ssm_d")->dtype, DType::F32);
  ASSERT_EQ(res.changes.size(), 1u);
  EXPECT_EQ(res.changes[0].layer, "backbone.layers.0.mixer.dt_proj");
  EXPECT_GT(res.changes[0].written_bytes, res.changes[0].planned_bytes);

  // A = −exp(A_log), in fp32 as HF computes it.
  const TensorStore store = TensorStore::open_dir(ref.model_dir());
  const TensorInfo& a_log = store.get("backbone.layers.3.mixer.A_log");
  const GgufTensor* a = f->find("blk.3.ssm_a");
  ASSERT_EQ(a->shape, a_log.shape);
  for (int64_t i = 0; i < shape_numel(a->shape); ++i) {
    float l, v;
    std::memcpy(&l, a_log.data + 4 * i, 4);
    std::memcpy(&v, a->data + 4 * i, 4);
    ASSERT_EQ(v, -std::exp(l)) << i;
  }
}

TEST(GgufExport, Mamba2FollowsLlamaCppConventions) {
  const Reference ref("tiny-mamba2");
  const std::string out = tmp_path("conventions_mamba2.gguf");
  export_gguf(ref.model_dir(), {}, out);
  auto f = GgufFile::open(out);
  EXPECT_EQ(f->get_string("general.architecture"), "mamba2");
  EXPECT_EQ(f->get_uint("mamba2.ssm.time_step_rank"), 8u);  // heads
  EXPECT_EQ(f->get_uint("mamba2.ssm.group_count"), 1u);
  EXPECT_EQ(f->find("blk.0.ssm_a")->shape, (Shape{8, 1}));
  EXPECT_EQ(f->find("blk.0.ssm_d")->shape, (Shape{8, 1}));
  EXPECT_EQ(f->find("blk.0.ssm_dt.bias")->shape, (Shape{8}));
  EXPECT_EQ(f->find("blk.0.ssm_norm.weight")->shape, (Shape{1, 256}));
  EXPECT_EQ(f->find("blk.0.ssm_conv1d.weight")->shape, (Shape{256 + 2 * 32, 4}));
}

TEST(GgufExport, HymbaIsWrittenUnderAKllensArchitecture) {
  const Reference ref("tiny-hymba");
  const std::string out = tmp_path("hymba.gguf");
  const GgufExportResult res = export_gguf(ref.model_dir(), {}, out);
  EXPECT_FALSE(res.llama_cpp_arch);
  auto f = GgufFile::open(out);
  EXPECT_EQ(f->get_string("general.architecture"), "kllens-hymba");
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_NE(f->find("model.embed_tokens.weight"), nullptr);
}

TEST(GgufExport, RefusesAPlanLayerTheModelLacks) {
  const Reference ref("tiny-mamba");
  GgufExportOptions opt;
  opt.layers["backbone.layers.99.mixer.in_proj"] = QuantSpec{8, 32};
  const std::string out = tmp_path("refused.gguf");
  EXPECT_THROW(export_gguf(ref.model_dir(), opt, out), Error);
  EXPECT_FALSE(fs::exists(out));
}

// ---- the command line ------------------------------------------------------------------

TEST(GgufCli, QuantizeWritesAFileEveryCommandLoads) {
  const std::string dir = scratch_dir(), out = dir + "/m.gguf";
  const std::string src = std::string(KLLENS_SOURCE_DIR) + "/models/tiny-mamba";
  const CliResult q = run_cli("quantize " + src + " --type q4 --format gguf -o " + out);
  ASSERT_EQ(q.status, 0) << q.err;
  // Per-channel q4 re-blocked to Q4_0, dt_proj (K = 8) kept in F16: both listed with cost.
  EXPECT_NE(q.out.find("bits/weight"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("re-quantised in 32-blocks"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("backbone.layers.0.mixer.dt_proj"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("not whole 32-blocks"), std::string::npos) << q.out;
  const CliResult info = run_cli("info " + out);
  EXPECT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("Q4_0"), std::string::npos);
  write_file_atomic(dir + "/t.txt", "The jury said");
  const CliResult tok = run_cli("tokenize " + out + " --text " + dir + "/t.txt");
  EXPECT_EQ(tok.status, 0) << tok.err;
  const CliResult bad = run_cli("info " + dir + "/missing.gguf");
  EXPECT_NE(bad.status, 0);
  const std::string cut = dir + "/cut.gguf";
  write_file_atomic(cut, read_file(out).substr(0, 64));
  const CliResult c = run_cli("info " + cut);
  EXPECT_NE(c.status, 0);
  EXPECT_EQ(c.err.rfind("kllens: " + cut + ": ", 0), 0u) << c.err;
  EXPECT_EQ(std::count(c.err.begin(), c.err.end(), '\n'), 1) << c.err;
}

// ---- bad files ----------------------------------------------------------------------------

class GgufBadFile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    good_ = new std::string(read_file([] {
      const std::string out = tmp_path("good.gguf");
      export_gguf(Reference("tiny-mamba").model_dir(), {}, out);
      return out;
    }()));
  }
  // Loads `bytes` as a model; returns the one-line error.
  static std::string error_of(const std::string& bytes, const std::string& name) {
    const std::string path = tmp_path(name);
    write_file_atomic(path, bytes);
    auto cpu = make_cpu_backend(best_cpu_tier());
    try {
      Model::load(path, *cpu);
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;  // starts with the file's name
      return msg;
    }
    ADD_FAILURE() << name << " loaded";
    return "";
  }
  static std::string* good_;
};
std::string* GgufBadFile::good_ = nullptr;

template <typename T>
void poke(std::string& s, size_t at, T v) {
  std::memcpy(s.data() + at, &v, sizeof(T));
}

TEST_F(GgufBadFile, EachFaultIsOneLineNamingTheFile) {
  const std::string& g = *good_;
  EXPECT_NE(error_of(g.substr(0, g.size() / 2), "truncated.gguf").find("past the end"), std::string::npos);
  EXPECT_NE(error_of(g.substr(0, 100), "header_cut.gguf").find("truncated"), std::string::npos);
  std::string v = g;
  poke<uint32_t>(v, 4, 2);
  EXPECT_NE(error_of(v, "version.gguf").find("version 2"), std::string::npos);
  std::string n = g;
  poke<uint64_t>(n, 8, uint64_t(1) << 60);  // tensor count
  EXPECT_NE(error_of(n, "count.gguf").find("truncated"), std::string::npos);
  std::string k = g;
  poke<uint64_t>(k, 16, uint64_t(1) << 62);  // metadata count
  EXPECT_NE(error_of(k, "kv_count.gguf").find("truncated"), std::string::npos);
  // The first key's string length.
  std::string l = g;
  poke<uint64_t>(l, 24, uint64_t(1) << 40);
  EXPECT_NE(error_of(l, "key_len.gguf").find("claims"), std::string::npos);
  // A tensor of a type kllens does not read: find token_embd's type field.
  std::string t = g;
  const size_t at = t.find("token_embd.weight");
  ASSERT_NE(at, std::string::npos);
  poke<uint32_t>(t, at + 17 + 4 + 16, 12);  // name, n_dims, ne[2], type = Q4_K
  EXPECT_NE(error_of(t, "type.gguf").find("ggml type 12"), std::string::npos);
}

// A size key of 0 (fuzz_gguf found mamba2.embedding_length = 0 dividing by zero before the
// config's checks) or past int32 is refused by name, for both SSM architectures.
TEST_F(GgufBadFile, SizeKeyOfZeroOrPastInt32IsRefusedByName) {
  const std::string out = tmp_path("size_keys_mamba2.gguf");
  export_gguf(Reference("tiny-mamba2").model_dir(), {}, out);
  const std::string m2 = read_file(out);
  using Case = std::pair<const std::string*, std::string>;
  for (const auto& [good, key] : {Case{good_, "mamba.embedding_length"}, Case{&m2, "mamba2.embedding_length"},
                                  Case{&m2, "mamba2.ssm.state_size"}}) {
    const size_t at = good->find(key);
    ASSERT_NE(at, std::string::npos) << key;
    uint32_t type = 0;
    std::memcpy(&type, good->data() + at + key.size(), 4);
    ASSERT_EQ(type, 4u) << key;  // GGUF_TYPE_UINT32
    for (const uint32_t v : {0u, 0x80000000u}) {
      std::string bad = *good;
      poke<uint32_t>(bad, at + key.size() + 4, v);
      const std::string msg = error_of(bad, "size_key.gguf");
      EXPECT_NE(msg.find(key + " is " + std::to_string(v) + ", not a size"), std::string::npos) << msg;
    }
  }
}

// from_bytes is open() without the file (the fuzz target's entry point): the same keys and
// tensors, pointing into the caller's bytes, and gguf_model() maps them as read_gguf_model.
TEST_F(GgufBadFile, FromBytesReadsWhatOpenReads) {
  const std::string& g = *good_;
  const std::string path = tmp_path("from_bytes.gguf");
  write_file_atomic(path, g);
  const auto mapped = GgufFile::open(path);
  const auto* begin = reinterpret_cast<const uint8_t*>(g.data());
  const std::shared_ptr<const GgufFile> mem = GgufFile::from_bytes("in-memory", begin, g.size());
  EXPECT_EQ(mem->metadata().size(), mapped->metadata().size());
  ASSERT_EQ(mem->tensors().size(), mapped->tensors().size());
  for (size_t i = 0; i < mapped->tensors().size(); ++i) {
    const GgufTensor& t = mapped->tensors()[i];
    const GgufTensor& m = mem->tensors()[i];
    EXPECT_EQ(m.name, t.name);
    EXPECT_EQ(m.dtype, t.dtype) << t.name;
    EXPECT_EQ(m.shape, t.shape) << t.name;
    ASSERT_EQ(m.bytes, t.bytes) << t.name;
    EXPECT_TRUE(m.data >= begin && m.data + m.bytes <= begin + g.size()) << t.name;
    EXPECT_EQ(std::memcmp(m.data, t.data, t.bytes), 0) << t.name;
  }
  const GgufModel a = read_gguf_model(path), b = gguf_model(mem);
  EXPECT_EQ(a.config.to_json(), b.config.to_json());
  EXPECT_EQ(a.store.names(), b.store.names());
  try {
    GgufFile::from_bytes("in-memory", begin, 23);
    ADD_FAILURE() << "23 bytes read as a GGUF file";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("in-memory: not a GGUF file", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace kllens::test
