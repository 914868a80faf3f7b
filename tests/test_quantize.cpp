// kllens quantize and its folder format (kllens/checkpoint.h): a written checkpoint must
// run exactly like the source with the same plan applied in memory (deploy_plan), on the
// CPU and on Vulkan (lavapipe in CI, validation on); --plan on logits, perplexity,
// generate and bench; allocate --method uniform; and the bad-input table of the new
// command and format (one line, non-zero exit, nothing left behind). About 10 s.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kllens/io.h"
#include "kllens/lens.h"
#include "kllens/safetensors.h"
#include "kllens/vulkan.h"
#include "support/cli.h"
#include "support/compare.h"
#include "support/reference.h"
#include "support/vulkan_pair.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;

// Nothing at `out` and no temporary beside it.
void expect_nothing_written(const std::string& out) {
  EXPECT_FALSE(fs::exists(out)) << out;
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

const std::string kSource = "fixtures/tiny-mamba";  // F32 weights: "f16" layers become F16

// Every type the command takes, cycled over the layers: in_proj [512, 128], x_proj
// [40, 256], dt_proj [256, 8] (one short group), out_proj [128, 256].
Plan mixed_plan() {
  auto be = make_cpu_backend(best_cpu_tier());
  auto model = Model::load(shared_path(kSource), *be);
  Plan p = uniform_plan(*model, std::nullopt, "mixed");
  const std::vector<std::optional<QuantSpec>> cycle = {std::nullopt, QuantSpec{8, 0},  QuantSpec{4, 0},
                                                       QuantSpec{8, 32}, QuantSpec{4, 32}, QuantSpec{4, 64},
                                                       QuantSpec{8, 128}};
  for (size_t i = 0; i < p.choice.size(); ++i) p.choice[i] = cycle[i % cycle.size()];
  return p;
}

struct Written {
  std::string dir, plan_path, out;
  Plan plan;
};

Written write_mixed() {
  Written w;
  w.dir = scratch_dir();
  w.plan = mixed_plan();
  w.plan_path = w.dir + "/plan.json";
  write_file_atomic(w.plan_path, w.plan.to_json().dump(2));
  w.out = w.dir + "/q";
  const CliResult r = run_cli("quantize " + shared_path(kSource) + " --plan " + w.plan_path + " -o " + w.out);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("bits/weight"), std::string::npos) << r.out;
  return w;
}

std::vector<uint8_t> bytes_of(Backend& be, const Tensor& t) {
  std::vector<uint8_t> v(size_t(t.rows()) * t.row_bytes());
  be.download(t, v.data());
  return v;
}

// The folder against the source + deploy_plan on one backend: the same weight bytes and
// scales in every layer, then bit-identical logits of a prefill and of decode steps.
void expect_folder_equals_plan_in_memory(Backend& be) {
  const Written w = write_mixed();
  auto folder = Model::load(w.out, be);
  auto memory = Model::load(shared_path(kSource), be);
  deploy_plan(*memory, w.plan);
  const auto fl = folder->linear_layers(), ml = memory->linear_layers();
  ASSERT_EQ(fl.size(), ml.size());
  for (size_t i = 0; i < fl.size(); ++i) {
    SCOPED_TRACE(fl[i].name);
    const DType want = w.plan.choice[i] ? w.plan.choice[i]->storage() : DType::F16;
    EXPECT_EQ(fl[i].weight->w.dtype, want);
    EXPECT_EQ(ml[i].weight->w.dtype, want);
    EXPECT_EQ(bytes_of(be, fl[i].weight->w), bytes_of(be, ml[i].weight->w));
    ASSERT_EQ(fl[i].weight->scale.empty(), ml[i].weight->scale.empty());
    if (!fl[i].weight->scale.empty()) {
      EXPECT_EQ(bytes_of(be, fl[i].weight->scale), bytes_of(be, ml[i].weight->scale));
    }
  }
  const std::vector<int32_t> ids = {5, 17, 300, 42, 7, 7, 99, 1, 250, 3, 3, 64, 128, 2, 11, 600};
  EXPECT_EQ(compute_logits(*folder, ids, 2, 8), compute_logits(*memory, ids, 2, 8));
  EXPECT_EQ(prefill_then_decode(*folder, ids, 1, 16, 10), prefill_then_decode(*memory, ids, 1, 16, 10));
  // And the plan really changed the model: not the unquantised logits.
  auto plain = Model::load(shared_path(kSource), be);
  EXPECT_NE(compute_logits(*folder, ids, 2, 8), compute_logits(*plain, ids, 2, 8));
}

TEST(Quantize, FolderRunsLikeThePlanInMemoryOnCpu) { expect_folder_equals_plan_in_memory(cpu()); }

TEST(Quantize, FolderRunsLikeThePlanInMemoryOnVulkan) {
  REQUIRE_VULKAN();
  expect_folder_equals_plan_in_memory(*vulkan());
  vulkan()->sync();  // throws on any validation message
  EXPECT_EQ(vulkan_validation_messages(*vulkan()), 0);
}

TEST(Quantize, FolderLayout) {
  const Written w = write_mixed();
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) EXPECT_TRUE(fs::exists(w.out + "/" + f)) << f;
  const auto config = nlohmann::json::parse(read_file(w.out + "/config.json"));
  const auto& q = config.at("quantization_config");
  EXPECT_EQ(q.at("quant_method"), "kllens");
  EXPECT_EQ(q.at("plan"), "mixed");
  for (size_t i = 0; i < w.plan.layers.size(); ++i)
    EXPECT_EQ(q.at("layers").at(w.plan.layers[i].name), w.plan.choice[i] ? w.plan.choice[i]->name() : "f16");
  // Any safetensors reader sees U8 rows; the packed metadata names them.
  const std::string bytes = read_file(w.out + "/model.safetensors");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  const std::string x_proj = "backbone.layers.0.mixer.x_proj.weight";  // layer 1 of the cycle: q8 per channel
  EXPECT_EQ(header.at(x_proj).at("dtype"), "U8");
  EXPECT_EQ(header.at(x_proj).at("shape"), nlohmann::json({40, 256}));
  EXPECT_EQ(header.at(x_proj + "_scale").at("dtype"), "F32");
  const auto packed = nlohmann::json::parse(header.at("__metadata__").at("kllens.packed").get<std::string>());
  EXPECT_EQ(packed.at(x_proj).at("dtype"), "Q8_C");
  // info shows the quantised types.
  const CliResult info = run_cli("info " + w.out);
  ASSERT_EQ(info.status, 0) << info.err;
  for (const char* t : {"Q8_C", "Q4_C", "Q8_0", "Q4_0", "F16"}) EXPECT_NE(info.out.find(t), std::string::npos) << t;
}

TEST(Quantize, TypeWritesEveryLayerAndReplacesAnEarlierCheckpoint) {
  const std::string out = scratch_dir() + "/q4";
  for (int round = 0; round < 2; ++round) {  // the second writes over the first
    const CliResult r = run_cli("quantize " + shared_path(kSource) + " --type q4_g32 -o " + out);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(fmt::format("{} bytes", fs::file_size(out + "/model.safetensors"))), std::string::npos) << r.out;
  }
  const auto q = nlohmann::json::parse(read_file(out + "/config.json")).at("quantization_config");
  EXPECT_EQ(q.at("plan"), "uniform-q4_g32");
  EXPECT_EQ(q.at("layers").size(), 32u);
  for (const auto& [layer, t] : q.at("layers").items()) EXPECT_EQ(t, "q4_g32") << layer;
  // q4_g32 of in_proj: 512 rows × 4 blocks × 18 bytes.
  auto file = SafetensorsFile::open(out + "/model.safetensors");
  const TensorInfo& t = file->tensors().at("backbone.layers.3.mixer.in_proj.weight");
  EXPECT_EQ(t.dtype, DType::Q4_0);
  EXPECT_EQ(t.shape, (Shape{512, 128}));
  EXPECT_EQ(t.bytes, 512u * 4 * 18);
  // It runs on the commands.
  const CliResult g = run_cli("generate " + out + " --prompt 'The jury' -n 4 --ignore-eos");
  EXPECT_EQ(g.status, 0) << g.err;
}

// --head TYPE: the output head as the plan layer lm_head. The folder stores it untied, in
// its own type (lm_head.weight), with the embedding left in its source type, and it runs.
// (A plan applied on load keeps a tied head tied, so there the embedding gathers the
// quantised rows: the two differ in the embedding, not in the head.)
TEST(Quantize, HeadTypeQuantisesTheHead) {
  const std::string dir = scratch_dir(), out = dir + "/q4h8";
  const CliResult r = run_cli("quantize " + shared_path(kSource) + " --type q4 --head q8_g32 -o " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto config = nlohmann::json::parse(read_file(out + "/config.json"));
  EXPECT_EQ(config.at("quantization_config").at("layers").size(), 33u);
  EXPECT_EQ(config.at("quantization_config").at("layers").at(kHeadLayer), "q8_g32");
  EXPECT_FALSE(config.at("tie_word_embeddings").get<bool>());
  auto file = SafetensorsFile::open(out + "/model.safetensors");
  const TensorInfo& head = file->tensors().at("lm_head.weight");
  EXPECT_EQ(head.dtype, DType::Q8_0);
  EXPECT_EQ(head.shape, (Shape{4096, 128}));
  const CliResult l = run_cli("logits " + out + " --ids 1,2,3,400 --out " + dir + "/a.safetensors");
  EXPECT_EQ(l.status, 0) << l.err;
}

// --plan on the commands that run a model: the same numbers as the written folder.
TEST(Quantize, PlanOnLoadMatchesTheFolderInEveryCommand) {
  const Written w = write_mixed();
  const std::string src = shared_path(kSource), plan = " --plan " + w.plan_path;
  const std::string a = w.dir + "/a.safetensors", b = w.dir + "/b.safetensors";
  ASSERT_EQ(run_cli("logits " + w.out + " --ids 1,2,3,400 --out " + a).status, 0);
  ASSERT_EQ(run_cli("logits " + src + plan + " --ids 1,2,3,400 --out " + b).status, 0);
  EXPECT_EQ(read_file(a), read_file(b));

  const std::string text = w.dir + "/t.txt";
  write_file_atomic(text, read_file(shared_path("data/brown/test.txt")).substr(0, 3000));
  const auto ppl = [](const CliResult& r) { return r.out.substr(0, r.out.find('\n')); };
  const CliResult p1 = run_cli("perplexity " + w.out + " --text " + text + " --ctx 64");
  const CliResult p2 = run_cli("perplexity " + src + plan + " --text " + text + " --ctx 64");
  ASSERT_EQ(p1.status, 0) << p1.err;
  ASSERT_EQ(p2.status, 0) << p2.err;
  EXPECT_EQ(ppl(p1), ppl(p2));
  EXPECT_NE(ppl(p1), ppl(run_cli("perplexity " + src + " --text " + text + " --ctx 64")));

  const auto ids = [](const CliResult& r) {
    const size_t at = r.err.find("ids [");
    return at == std::string::npos ? std::string("no ids") : r.err.substr(at, r.err.find(']', at) - at);
  };
  const CliResult g1 = run_cli("generate " + w.out + " --prompt-ids 5,17,300 -n 12 --ignore-eos --print-ids");
  const CliResult g2 = run_cli("generate " + src + plan + " --prompt-ids 5,17,300 -n 12 --ignore-eos --print-ids");
  ASSERT_EQ(g1.status, 0) << g1.err;
  ASSERT_EQ(g2.status, 0) << g2.err;
  EXPECT_EQ(ids(g1), ids(g2));

  const CliResult bench = run_cli("bench " + src + plan + " -p 8 -n 2 -r 1 -o json");
  ASSERT_EQ(bench.status, 0) << bench.err;
  const auto rows = nlohmann::json::parse(bench.out);
  // The plan's model, as loaded, is the folder's size give or take the folder's own
  // bookkeeping (none: both hold the same tensors).
  ASSERT_EQ(rows.size(), 2u);
  const CliResult fb = run_cli("bench " + w.out + " -p 8 -n 2 -r 1 -o json");
  ASSERT_EQ(fb.status, 0) << fb.err;
  EXPECT_EQ(rows[0].at("model_size"), nlohmann::json::parse(fb.out)[0].at("model_size"));
}

TEST(Quantize, AllocateUniform) {
  const std::string dir = scratch_dir();
  SensitivityReport r;
  r.model = "m";
  r.windows = 1;  // a sweep's report has at least one window and two tokens per window
  r.seqlen = 2;
  r.vocab = 2;
  r.bits = {4, 8};
  r.other_params = 10;
  r.layers = {{"a", 0, 64, 32}, {"b", 1, 32, 64}};
  for (const LayerInfo& l : r.layers)
    for (int bits : r.bits) {
      Probe p;
      p.layer = l.name;
      p.block = l.block;
      p.bits = bits;
      r.probes.push_back(p);
    }
  write_sensitivity(r, dir);
  for (const std::string type : {"q4", "q8_g32", "f16"}) {
    const CliResult c = run_cli("allocate " + dir + " --method uniform --type " + type + " -o " + dir + "/p.json");
    ASSERT_EQ(c.status, 0) << c.err;
    const Plan p = Plan::load(dir + "/p.json");
    EXPECT_EQ(p.name, "uniform-" + type);
    ASSERT_EQ(p.choice.size(), 2u);
    for (const auto& c2 : p.choice) EXPECT_EQ(c2 ? c2->name() : "f16", type);
  }
  expect_one_line_error(run_cli("allocate " + dir + " --method uniform --type q5 -o " + dir + "/x.json"), "q5");
  expect_one_line_error(run_cli("allocate " + dir + " --method uniform -o " + dir + "/x.json"), "--type");
  EXPECT_FALSE(fs::exists(dir + "/x.json"));
}

// ---- bad input -------------------------------------------------------------------------

TEST(QuantizeBadInput, CommandLine) {
  const std::string dir = scratch_dir(), out = dir + "/q", src = shared_path(kSource);
  write_file_atomic(dir + "/bad.json", "{\"name\": ");
  Plan foreign = mixed_plan();
  foreign.layers[3].name = "backbone.layers.0.mixer.no_such_proj";
  write_file_atomic(dir + "/foreign.json", foreign.to_json().dump());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"quantize " + src + " -o " + out, "give one of --plan and --type"},
      {"quantize " + src + " --type q4 --plan " + dir + "/bad.json -o " + out, "give one of --plan and --type"},
      {"quantize " + src + " --type q5 -o " + out, "q5"},
      {"quantize " + src + " --plan " + dir + "/bad.json -o " + out, "bad.json: malformed JSON"},
      {"quantize " + src + " --plan " + dir + "/missing.json -o " + out, "missing.json: cannot open"},
      {"quantize " + src + " --plan " + dir + "/foreign.json -o " + out, "no_such_proj"},
      {"quantize " + dir + "/no-model --type q8 -o " + out, "no-model"},
  };
  for (const auto& [args, needle] : cases) {
    SCOPED_TRACE(args);
    expect_one_line_error(run_cli(args), needle);
    expect_nothing_written(out);
  }
  // An existing folder that is not a kllens checkpoint is never replaced.
  fs::create_directories(dir + "/mine");
  write_file_atomic(dir + "/mine/notes.txt", "keep me");
  expect_one_line_error(run_cli("quantize " + src + " --type q8 -o " + dir + "/mine"), "not overwriting");
  EXPECT_EQ(read_file(dir + "/mine/notes.txt"), "keep me");
}

TEST(QuantizeBadInput, CheckpointDisagreesWithItsConfig) {
  const Written w = write_mixed();
  const std::string layer = "backbone.layers.0.mixer.x_proj";  // stored as Q8_C
  auto edit_config = [&](const std::function<void(nlohmann::json&)>& f) {
    auto j = nlohmann::json::parse(read_file(w.out + "/config.json"));
    f(j);
    write_file_atomic(w.out + "/config.json", j.dump());
  };
  const std::string out = w.dir + "/l.safetensors";
  edit_config([&](nlohmann::json& j) { j["quantization_config"]["layers"][layer] = "q4"; });
  expect_one_line_error(run_cli("logits " + w.out + " --ids 1,2 --out " + out), "is q4 in quantization_config, but");
  edit_config([&](nlohmann::json& j) { j["quantization_config"]["quant_method"] = "gptq"; });
  expect_one_line_error(run_cli("logits " + w.out + " --ids 1,2 --out " + out), "gptq");
  EXPECT_FALSE(fs::exists(out));
  // A plan on load that disagrees with the stored types.
  edit_config([&](nlohmann::json& j) { j["quantization_config"]["quant_method"] = "kllens"; j["quantization_config"]["layers"][layer] = "q8"; });
  Plan other = w.plan;
  for (auto& c : other.choice) c = QuantSpec{4, 0};
  write_file_atomic(w.dir + "/other.json", other.to_json().dump());
  expect_one_line_error(run_cli("logits " + w.out + " --plan " + w.dir + "/other.json --ids 1,2 --out " + out),
                        "stores it as");
  EXPECT_FALSE(fs::exists(out));
}

TEST(QuantizeBadInput, PackedTensorsMustMatchTheirMetadata) {
  const Written w = write_mixed();
  const std::string path = w.out + "/model.safetensors";
  std::string bytes = read_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  auto packed = nlohmann::json::parse(header["__metadata__"]["kllens.packed"].get<std::string>());
  packed["backbone.layers.0.mixer.x_proj.weight"]["shape"] = {40, 200};  // rows no longer fit
  header["__metadata__"]["kllens.packed"] = packed.dump();
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  const uint64_t len = h.size();
  std::string rewritten(reinterpret_cast<const char*>(&len), 8);
  write_file_atomic(path, rewritten + h + bytes.substr(8 + n));
  expect_one_line_error(run_cli("logits " + w.out + " --ids 1,2 --out " + w.dir + "/l.safetensors"),
                        "packed Q8_C [40, 200] needs U8 [40, 200]");
}

}  // namespace
}  // namespace kllens::test
