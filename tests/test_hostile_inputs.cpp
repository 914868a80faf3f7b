// The bad-input table of issue 12: malformed and hostile files and options, each run
// through the real kllens binary. The contract for every case: exit status 1 (no signal),
// exactly one line on stderr, "kllens: " first, naming the file or option and the fault,
// at most a bounded excerpt of the offending value, and no output file (nor a temporary
// one) left behind. docs/reliability.md lists the cases by class.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "kllens/io.h"
#include "support/cli.h"
#include "support/compare.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- building hostile files -----------------------------------------------------------

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

std::string le64(uint64_t n) { return std::string(reinterpret_cast<const char*>(&n), 8); }

// A safetensors file from a header text (padded to 8 bytes) and data.
std::string safetensors_bytes(std::string header, const std::string& data) {
  while (header.size() % 8) header += ' ';
  return le64(header.size()) + header + data;
}

struct Checkpoint {
  std::string header;  // the JSON text as stored
  std::string data;
};

Checkpoint read_checkpoint(const std::string& path) {
  const std::string bytes = read_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  return {bytes.substr(8, n), bytes.substr(8 + n)};
}

std::string tiny(const std::string& dir, const std::string& fixture = "tiny-mamba") {
  const std::string m = dir + "/model";
  copy_model(fixture, m);
  return m;
}

json read_json(const std::string& path) { return json::parse(read_file(path)); }

void edit_json(const std::string& path, const std::function<void(json&)>& edit) {
  json j = read_json(path);
  edit(j);
  write_bytes(path, j.dump());
}

// A model whose config.json text is `text`.
std::string model_with_config_text(const std::string& dir, const std::string& text) {
  const std::string m = tiny(dir);
  write_bytes(m + "/config.json", text);
  return m;
}

std::string model_with_config(const std::string& dir, const std::function<void(json&)>& edit,
                              const std::string& fixture = "tiny-mamba") {
  const std::string m = tiny(dir, fixture);
  edit_json(m + "/config.json", edit);
  return m;
}

std::string model_with_tokenizer(const std::string& dir, const std::function<void(json&)>& edit) {
  const std::string m = tiny(dir);
  edit_json(m + "/tokenizer.json", edit);
  return m;
}

// A small valid sensitivity report (two layers, 4 and 8 bits).
json sensitivity_report() {
  const json m = {{"perplexity", nullptr}, {"sqnr_db", 20.5}, {"kl_teacher_to_student", 0.01},
                  {"kl_student_to_teacher", 0.011}, {"delta_cross_entropy", 0.002}, {"mse", 0.3},
                  {"top1_agreement", 0.97}};
  return {{"model", "tiny"},
          {"calibration", {{"windows", 2}, {"seqlen", 8}, {"tokens", 16}}},
          {"vocab_size", 10},
          {"group", "channel"},
          {"bits", {4, 8}},
          {"complete", true},
          {"teacher", {{"perplexity", 12.5}}},
          {"other_params", 100},
          {"layers",
           {{{"name", "a"}, {"block", 0}, {"out_features", 8}, {"in_features", 4}},
            {{"name", "b"}, {"block", 1}, {"out_features", 4}, {"in_features", 8}}}},
          {"4", {{"a", m}, {"b", m}}},
          {"8", {{"a", m}, {"b", m}}}};
}

json plan_json() {
  return {{"name", "p01"},
          {"method", "cutoffs"},
          {"other_params", 10},
          {"predicted_kl", 0.01},
          {"perplexity", nullptr},
          {"layers", {{"backbone.layers.0.mixer.in_proj", {{"type", "q4"}, {"block", 0}, {"shape", {8, 4}}}}}}};
}

const std::string kLogits = " --ids 1,2,3 --out ";

// ---- the table ------------------------------------------------------------------------

// One case: builds its inputs in `dir` and returns the command line; `out` (if not
// empty) must not exist afterwards; `needles` must all appear in the one error line.
struct Command {
  std::string args;
  std::string out;
  std::string env;  // "NAME=value" set for this run only, or empty
};

struct Case {
  const char* name;
  const char* cls;  // crash, accepted, alloc, message, option
  std::function<Command(const std::string& dir)> make;
  std::vector<std::string> needles;
};

std::string fx(const std::string& name) { return shared_path("fixtures/" + name); }

std::vector<Case> cases() {
  return {
      // -- crashes before issue 12: deep nesting, id + 1 overflow --------------------
      {"DeepSafetensorsHeader", "crash",
       [](const std::string& d) {
         const std::string m = tiny(d);
         write_bytes(m + "/model.safetensors", safetensors_bytes(nested(100000), ""));
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors", "nested deeper than 256"}},
      {"DeepConfigJson", "crash",
       [](const std::string& d) {
         const std::string m = model_with_config_text(d, "{\"a\": " + nested(100000) + "}");
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "nested deeper"}},
      {"DeepIndexJson", "crash",
       [](const std::string& d) {
         const std::string m = tiny(d);
         fs::remove(m + "/model.safetensors");
         write_bytes(m + "/model.safetensors.index.json", "{\"weight_map\": " + nested(100000) + "}");
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors.index.json", "nested deeper"}},
      {"DeepIdsFile", "crash",
       [](const std::string& d) {
         write_bytes(d + "/ids.json", nested(100000));
         return Command{"logits " + fx("tiny-mamba") + " --ids-file " + d + "/ids.json --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"ids.json", "nested deeper"}},
      {"DeepTokenizerJson", "crash",
       [](const std::string& d) {
         const std::string m = tiny(d);
         write_bytes(m + "/tokenizer.json", "{\"model\": " + nested(100000) + "}");
         write_bytes(d + "/t.txt", "hello");
         return Command{"tokenize " + m + " --text " + d + "/t.txt", ""};
       },
       {"tokenizer.json", "nested deeper"}},
      {"DeepPlanJson", "crash",
       [](const std::string& d) {
         write_bytes(d + "/plan.json", "{\"layers\": " + nested(100000) + "}");
         write_bytes(d + "/t.txt", "hello world");
         return Command{"evaluate " + fx("tiny-mamba") + " --plan " + d + "/plan.json --text " + d +
                        "/t.txt --json " + d + "/e.json",
                    d + "/e.json"};
       },
       {"plan.json", "nested deeper"}},
      {"DeepSensitivityJson", "crash",
       [](const std::string& d) {
         write_bytes(d + "/sensitivity.json", nested(100000));
         return Command{"allocate " + d + " -o " + d + "/plan.json", d + "/plan.json"};
       },
       {"sensitivity.json", "nested deeper"}},
      {"VocabIdInt32Max", "crash",
       [](const std::string& d) {
         const std::string m = model_with_tokenizer(d, [](json& t) { t["model"]["vocab"]["!"] = 2147483647; });
         write_bytes(d + "/t.txt", "hello!");
         return Command{"tokenize " + m + " --text " + d + "/t.txt", ""};
       },
       {"tokenizer.json", "2147483647"}},
      {"AddedTokenIdInt32Max", "crash",
       [](const std::string& d) {
         const std::string m = model_with_tokenizer(d, [](json& t) { t["added_tokens"][0]["id"] = 2147483647; });
         write_bytes(d + "/t.txt", "hello");
         return Command{"tokenize " + m + " --text " + d + "/t.txt", ""};
       },
       {"tokenizer.json", "added token"}},

      // -- malformed input that was accepted ------------------------------------------
      {"HeaderLengthOneByteShort", "accepted",
       [](const std::string& d) {
         const std::string m = tiny(d);
         std::string bytes = read_file(m + "/model.safetensors");
         uint64_t n;
         std::memcpy(&n, bytes.data(), 8);
         const std::string shorter = le64(n - 1);
         bytes.replace(0, 8, shorter);
         write_bytes(m + "/model.safetensors", bytes);
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors", "unclaimed"}},
      {"UnclaimedTrailingBytes", "accepted",
       [](const std::string& d) {
         const std::string m = tiny(d);
         write_bytes(m + "/model.safetensors", read_file(m + "/model.safetensors") + "trailing");
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors", "unclaimed"}},
      {"DuplicateTensorName", "accepted",
       [](const std::string& d) {
         const std::string m = tiny(d);
         Checkpoint c = read_checkpoint(m + "/model.safetensors");
         const json h = json::parse(c.header);
         const std::string entry = h["backbone.norm_f.weight"].dump();
         // The same name once more at the front: nlohmann would keep the last silently.
         c.header = "{\"backbone.norm_f.weight\":" + entry + "," + c.header.substr(1);
         write_bytes(m + "/model.safetensors", safetensors_bytes(c.header, c.data));
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors", "backbone.norm_f.weight", "twice"}},
      {"AddedTokenIdAbove32Bits", "accepted",
       [](const std::string& d) {
         const std::string m = model_with_tokenizer(d, [](json& t) { t["added_tokens"][0]["id"] = 4294967296ll; });
         write_bytes(d + "/t.txt", "hello");
         return Command{"tokenize " + m + " --text " + d + "/t.txt", ""};
       },
       {"tokenizer.json", "4294967296"}},
      {"I64IdAbove32Bits", "accepted",
       [](const std::string& d) {
         const int64_t ids[2] = {1, int64_t(1) << 32};
         const std::string data(reinterpret_cast<const char*>(ids), sizeof ids);
         write_bytes(d + "/ids.safetensors",
                     safetensors_bytes(R"({"input_ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", data));
         return Command{"logits " + fx("tiny-mamba") + " --ids-file " + d + "/ids.safetensors --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"ids.safetensors", "4294967296"}},
      {"NegativeI64Id", "accepted",
       [](const std::string& d) {
         const int64_t ids[2] = {1, -3};
         const std::string data(reinterpret_cast<const char*>(ids), sizeof ids);
         write_bytes(d + "/ids.safetensors",
                     safetensors_bytes(R"({"input_ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", data));
         return Command{"logits " + fx("tiny-mamba") + " --ids-file " + d + "/ids.safetensors --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"ids.safetensors", "-3"}},
      {"DuplicateConfigKey", "accepted",
       [](const std::string& d) {
         std::string text = read_file(fx("tiny-mamba") + "/config.json");
         text = "{\"num_hidden_layers\": 1," + text.substr(text.find('{') + 1);
         const std::string m = model_with_config_text(d, text);
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "num_hidden_layers", "twice"}},

      // -- allocation before validation ------------------------------------------------
      {"AbsurdLayerCount", "alloc",
       [](const std::string& d) {
         const std::string m = model_with_config(d, [](json& c) { c["num_hidden_layers"] = 1000000000000ll; });
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "num_hidden_layers"}},
      {"AbsurdHymbaLayerCount", "alloc",
       [](const std::string& d) {
         const std::string m = model_with_config(d, [](json& c) { c["num_hidden_layers"] = 2000000000; }, "tiny-hymba");
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "num_hidden_layers", "limit"}},
      {"AbsurdKvReuseEvery", "alloc",
       [](const std::string& d) {
         const std::string m = model_with_config(d, [](json& c) {
           c.erase("kv_reuse_group");
           c["kv_reuse_every_i_layer"] = 2000000000;
         }, "tiny-hymba");
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "kv_reuse_every_i_layer"}},
      {"AbsurdVocabSize", "alloc",
       [](const std::string& d) {
         const std::string m = model_with_config(d, [](json& c) { c["vocab_size"] = 2000000000; });
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "vocab_size"}},
      {"VocabIdOneBillion", "alloc",
       [](const std::string& d) {
         const std::string m = model_with_tokenizer(d, [](json& t) { t["model"]["vocab"]["!"] = 1000000000; });
         write_bytes(d + "/t.txt", "hello!");
         return Command{"tokenize " + m + " --text " + d + "/t.txt", ""};
       },
       {"tokenizer.json", "1000000000"}},
      {"TextFromDevZero", "alloc",
       [](const std::string&) { return Command{"perplexity " + fx("tiny-mamba") + " --text /dev/zero", ""}; },
       {"/dev/zero", "not a regular file"}},
      {"TextFromFifo", "alloc",
       [](const std::string& d) {
         ::mkfifo((d + "/fifo").c_str(), 0600);
         return Command{"perplexity " + fx("tiny-mamba") + " --text " + d + "/fifo", ""};
       },
       {"fifo", "not a regular file"}},
      {"IdsFileIsAFolder", "alloc",
       [](const std::string& d) {
         fs::create_directories(d + "/ids");
         return Command{"logits " + fx("tiny-mamba") + " --ids-file " + d + "/ids --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"not a regular file"}},
      {"BenchPromptOneBillion", "alloc",
       [](const std::string&) { return Command{"bench " + fx("tiny-mamba") + " --prompt 1000000000", ""}; },
       {"--prompt"}},
      {"AllocatePointsOneBillion", "alloc",
       [](const std::string& d) {
         write_bytes(d + "/sensitivity.json", sensitivity_report().dump());
         return Command{"allocate " + d + " --points 1000000000 -o " + d + "/plan.json", d + "/plan.json"};
       },
       {"--points"}},
      {"GenerateOneBillionTokens", "alloc",
       [](const std::string&) { return Command{"generate " + fx("tiny-mamba") + " --prompt hi -n 1000000000", ""}; },
       {"-n"}},

      // -- messages that named no file, or were a library's raw text -------------------
      {"NumberOutOfRangeInConfig", "message",
       [](const std::string& d) {
         const std::string m = model_with_config_text(d, R"({"model_type": "mamba", "layer_norm_epsilon": 1e400})");
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "1e400"}},
      {"NumberOutOfRangeInHeader", "message",
       [](const std::string& d) {
         const std::string m = tiny(d);
         write_bytes(m + "/model.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}})", "abcd"));
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors", "1e400"}},
      {"NumberOutOfRangeInTokenizer", "message",
       [](const std::string& d) {
         const std::string m = tiny(d);
         std::string t = read_file(m + "/tokenizer.json");
         t.insert(t.find('{') + 1, "\"x\": -1e400,");
         write_bytes(m + "/tokenizer.json", t);
         write_bytes(d + "/t.txt", "hello");
         return Command{"tokenize " + m + " --text " + d + "/t.txt", ""};
       },
       {"tokenizer.json", "1e400"}},
      {"NumberOutOfRangeInPlan", "message",
       [](const std::string& d) {
         write_bytes(d + "/plan.json", R"({"name": "p", "predicted_kl": 1e999})");
         write_bytes(d + "/t.txt", "hello world");
         return Command{"evaluate " + fx("tiny-mamba") + " --plan " + d + "/plan.json --text " + d + "/t.txt", ""};
       },
       {"plan.json", "1e999"}},
      {"TruncatedSweepState", "message",
       [](const std::string& d) {
         fs::create_directories(d + "/sweep/probes");
         write_bytes(d + "/sweep/probes/sweep.json", "{\"fingerprint\": \"model=");
         return Command{"sensitivity " + fx("tiny-mamba") + " --calib-ids " + fx("tiny-mamba") +
                        "/reference.safetensors --resume -o " + d + "/sweep",
                    d + "/sweep/sensitivity.json"};
       },
       {"sweep.json", "malformed JSON"}},
      {"SweepStateNotAnObject", "message",
       [](const std::string& d) {
         fs::create_directories(d + "/sweep/probes");
         write_bytes(d + "/sweep/probes/sweep.json", "[1, 2]");
         return Command{"sensitivity " + fx("tiny-mamba") + " --calib-ids " + fx("tiny-mamba") +
                        "/reference.safetensors --resume -o " + d + "/sweep",
                    d + "/sweep/sensitivity.json"};
       },
       {"sweep.json", "fingerprint"}},
      {"PlanWithOneDimensionalShape", "message",
       [](const std::string& d) {
         json p = plan_json();
         p["layers"]["backbone.layers.0.mixer.in_proj"]["shape"] = {8};
         write_bytes(d + "/plan.json", p.dump());
         write_bytes(d + "/t.txt", "hello world");
         return Command{"evaluate " + fx("tiny-mamba") + " --plan " + d + "/plan.json --text " + d + "/t.txt", ""};
       },
       {"plan.json", "shape"}},
      {"PlanWithWrongTypes", "message",
       [](const std::string& d) {
         json p = plan_json();
         p["other_params"] = "many";
         write_bytes(d + "/plan.json", p.dump());
         write_bytes(d + "/t.txt", "hello world");
         return Command{"evaluate " + fx("tiny-mamba") + " --plan " + d + "/plan.json --text " + d + "/t.txt", ""};
       },
       {"plan.json", "other_params"}},
      {"ZeroLengthIdsTensor", "message",
       [](const std::string& d) {
         write_bytes(d + "/ids.safetensors",
                     safetensors_bytes(R"({"input_ids":{"dtype":"I32","shape":[0],"data_offsets":[0,0]}})", ""));
         return Command{"logits " + fx("tiny-mamba") + " --ids-file " + d + "/ids.safetensors --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"ids.safetensors", "input_ids"}},
      {"SensitivityJsonIsAnArray", "message",
       [](const std::string& d) {
         write_bytes(d + "/sensitivity.json", "[1, 2, 3]");
         return Command{"allocate " + d + " -o " + d + "/plan.json", d + "/plan.json"};
       },
       {"sensitivity.json", "object"}},
      {"SensitivityJsonWrongBits", "message",
       [](const std::string& d) {
         json r = sensitivity_report();
         r["bits"] = {5};  // 3 and 2 are probe-only widths now, 5 is none
         write_bytes(d + "/sensitivity.json", r.dump());
         return Command{"allocate " + d + " -o " + d + "/plan.json", d + "/plan.json"};
       },
       {"sensitivity.json", "bits"}},
      {"TokenizerJsonIsAnArray", "message",
       [](const std::string& d) {
         const std::string m = tiny(d);
         write_bytes(m + "/tokenizer.json", "[]");
         write_bytes(d + "/t.txt", "hello");
         return Command{"tokenize " + m + " --text " + d + "/t.txt", ""};
       },
       {"tokenizer.json", "object"}},
      {"IdsJsonFloatId", "message",
       [](const std::string& d) {
         write_bytes(d + "/ids.json", "[1, 2.5, 3]");
         return Command{"logits " + fx("tiny-mamba") + " --ids-file " + d + "/ids.json --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"ids.json", "2.5"}},
      {"IdsJsonHugeId", "message",
       [](const std::string& d) {
         write_bytes(d + "/ids.json", "[1, 1099511627776]");
         return Command{"logits " + fx("tiny-mamba") + " --ids-file " + d + "/ids.json --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"ids.json", "1099511627776"}},
      {"LongTensorNameIsCut", "message",
       [](const std::string& d) {
         const std::string m = tiny(d);
         const std::string name(100000, 'n');
         write_bytes(m + "/model.safetensors",
                     safetensors_bytes("{\"" + name + "\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd"));
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors", "nnn...", "F99"}},
      {"LongStringTokenIsCut", "message",
       [](const std::string& d) {
         const std::string m = model_with_config_text(d, "{\"model_type\": \"" + std::string(200000, 'x') + "\"}");
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"config.json", "xxx"}},
      {"EditedHeaderMetadataType", "message",
       [](const std::string& d) {
         const std::string m = tiny(d);
         write_bytes(m + "/model.safetensors", safetensors_bytes(R"({"__metadata__": {"format": 7}})", ""));
         return Command{"logits " + m + kLogits + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"model.safetensors", "__metadata__"}},

      // -- options ---------------------------------------------------------------------
      {"OutEqualsTheWeights", "option",
       [](const std::string& d) {
         const std::string m = tiny(d);
         return Command{"logits " + m + kLogits + m + "/model.safetensors", ""};
       },
       {"--out", "input"}},
      {"OutInsideTheModelFolder", "option",
       [](const std::string& d) {
         const std::string m = tiny(d);
         return Command{"logits " + m + kLogits + m + "/logits.safetensors", m + "/logits.safetensors"};
       },
       {"--out", "inside the input folder"}},
      {"SweepOutIsTheModelFolder", "option",
       [](const std::string& d) {
         const std::string m = tiny(d);
         return Command{"sensitivity " + m + " --calib-ids " + fx("tiny-mamba") + "/reference.safetensors -o " + m,
                    m + "/sensitivity.json"};
       },
       {"--out"}},
      {"PlanOutIsTheReport", "option",
       [](const std::string& d) {
         write_bytes(d + "/sensitivity.json", sensitivity_report().dump());
         return Command{"allocate " + d + " -o " + d + "/sensitivity.json", ""};
       },
       {"--out", "sensitivity.json"}},
      {"CtxZeroIsOneLine", "option",
       [](const std::string& d) {
         write_bytes(d + "/t.txt", "hello");
         return Command{"perplexity " + fx("tiny-mamba") + " --text " + d + "/t.txt --ctx 0", ""};
       },
       {"--ctx"}},
      {"CtxNotANumber", "option",
       [](const std::string& d) {
         write_bytes(d + "/t.txt", "hello");
         return Command{"perplexity " + fx("tiny-mamba") + " --text " + d + "/t.txt --ctx many", ""};
       },
       {"--ctx", "many"}},
      {"UnknownOption", "option",
       [](const std::string&) { return Command{"info " + fx("tiny-mamba") + " --frobnicate", ""}; },
       {"--frobnicate"}},
      {"MissingRequiredOption", "option",
       [](const std::string&) { return Command{"logits " + fx("tiny-mamba") + " --ids 1", ""}; },
       {"--out"}},
      {"TemperatureNan", "option",
       [](const std::string&) { return Command{"generate " + fx("tiny-mamba") + " --prompt hi --temperature nan", ""}; },
       {"--temperature", "nan"}},
      {"TemperatureInf", "option",
       [](const std::string&) { return Command{"generate " + fx("tiny-mamba") + " --prompt hi --temperature inf", ""}; },
       {"--temperature", "inf"}},
      {"TopPNan", "option",
       [](const std::string&) { return Command{"generate " + fx("tiny-mamba") + " --prompt hi --top-p nan", ""}; },
       {"--top-p"}},
      {"GammaNan", "option",
       [](const std::string& d) {
         write_bytes(d + "/sensitivity.json", sensitivity_report().dump());
         return Command{"allocate " + d + " --method greedy --gamma nan -o " + d + "/plan.json", d + "/plan.json"};
       },
       {"--gamma"}},
      {"IdsEmptyElement", "option",
       [](const std::string& d) {
         return Command{"logits " + fx("tiny-mamba") + " --ids 1,,2 --out " + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"--ids", "empty element"}},
      {"IdsTrailingComma", "option",
       [](const std::string& d) {
         return Command{"logits " + fx("tiny-mamba") + " --ids 1,2, --out " + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"--ids", "empty element"}},
      {"IdsNotANumber", "option",
       [](const std::string& d) {
         return Command{"logits " + fx("tiny-mamba") + " --ids 1,x2 --out " + d + "/x.safetensors", d + "/x.safetensors"};
       },
       {"--ids", "x2"}},
      {"DeviceNegative", "option",
       [](const std::string& d) {
         return Command{"logits " + fx("tiny-mamba") + " --ids 1 --backend vulkan --device -5 --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"--device"}},
      {"CheckKernelsDeviceNegative", "option",
       [](const std::string& d) { return Command{"check-kernels --op add --device -1", d + "/none"}; },
       {"--device", "-1"}},
#ifdef KLLENS_HAVE_VULKAN
      {"CheckKernelsDeviceOutOfRange", "option",
       [](const std::string& d) { return Command{"check-kernels --op add --device 999", d + "/none"}; },
       {"--device", "999"}},
      {"DeviceEnvMalformed", "option",
       [](const std::string& d) {
         return Command{"logits " + fx("tiny-mamba") + " --ids 1 --backend vulkan --out " + d + "/x.safetensors",
                    d + "/x.safetensors", "KLLENS_VULKAN_DEVICE=abc"};
       },
       {"KLLENS_VULKAN_DEVICE", "abc"}},
      {"DeviceOutOfRange", "option",
       [](const std::string& d) {
         return Command{"logits " + fx("tiny-mamba") + " --ids 1 --backend vulkan --device 999 --out " + d + "/x.safetensors",
                    d + "/x.safetensors"};
       },
       {"--device", "999"}},
#endif
  };
}

class HostileInput : public ::testing::TestWithParam<Case> {};

TEST_P(HostileInput, RefusedInOneLine) {
  const Case& c = GetParam();
  const std::string dir = scratch_dir();
  const Command run = c.make(dir);
  std::string env_name;
  if (!run.env.empty()) {
    const size_t eq = run.env.find('=');
    env_name = run.env.substr(0, eq);
    ::setenv(env_name.c_str(), run.env.substr(eq + 1).c_str(), 1);
  }
  const CliResult r = run_cli(run.args);
  if (!env_name.empty()) ::unsetenv(env_name.c_str());

  EXPECT_EQ(r.status, 1) << "a signal shows as 128: " << r.err;
  EXPECT_EQ(r.err.rfind("kllens: ", 0), 0u) << r.err.substr(0, 500);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err.substr(0, 500);
  // A bounded excerpt: no message quotes the whole offending value.
  EXPECT_LT(r.err.size(), 800u) << r.err.substr(0, 500);
  for (const std::string& needle : c.needles)
    EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err.substr(0, 500);
  if (!run.out.empty()) {
    EXPECT_FALSE(fs::exists(run.out)) << run.out;
    for (const auto& e : fs::directory_iterator(fs::path(run.out).parent_path()))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

INSTANTIATE_TEST_SUITE_P(Table, HostileInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.cls) + "_" + i.param.name;
                         });

// The table covers every class of issue 12 with at least 40 cases.
TEST(HostileInputTable, HasFortyCasesOverEveryClass) {
  const auto all = cases();
  EXPECT_GE(all.size(), 40u);
  for (const char* cls : {"crash", "accepted", "alloc", "message", "option"})
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const Case& c) { return std::string(c.cls) == cls; }))
        << cls;
}

}  // namespace
}  // namespace kllens::test
