// safetensors reader/writer, sharded TensorStore and AtomicFile: round trips, the tiny
// fixture, and one crafted bad file per refusal, each checked for a one-line message that
// names the file (and the tensor where there is one).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/safetensors.h"
#include "support/compare.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed when the test ends, so tests never share files
// (also across concurrent runs of the suite).
struct TestDir {
  std::string path;
  TestDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = ::testing::TempDir() + "/kllens_st_" + std::to_string(::getpid()) + "_" +
           info->test_suite_name() + "_" + info->name();
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TestDir() { fs::remove_all(path); }
};

std::vector<std::string> dir_listing(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The message of the kllens::Error that f throws, or "<no error>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

::testing::AssertionResult mentions(const std::string& msg,
                                    std::initializer_list<std::string> parts) {
  if (msg.find('\n') != std::string::npos)
    return ::testing::AssertionFailure() << "multi-line: " << msg;
  for (const auto& p : parts)
    if (msg.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << p << "' not in: " << msg;
  return ::testing::AssertionSuccess();
}

// A safetensors file with a hand-written header and `data_bytes` zero bytes of data.
std::string write_raw(const std::string& dir, const std::string& header, size_t data_bytes,
                      const std::string& name = "bad.safetensors") {
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header;
  bytes.append(data_bytes, '\0');
  const std::string path = dir + "/" + name;
  write_file_atomic(path, bytes);
  return path;
}

std::string open_error(const std::string& path) {
  return error_of([&] { SafetensorsFile::open(path); });
}

uint8_t pattern(size_t tensor, size_t byte) { return uint8_t(tensor * 31 + byte * 7 + 1); }

void write_pattern(const std::string& path, const std::vector<TensorSpec>& specs,
                   const std::map<std::string, std::string>& meta = {}) {
  write_safetensors(
      path, specs,
      [](size_t i, void* dst, size_t bytes) {
        for (size_t b = 0; b < bytes; ++b) static_cast<uint8_t*>(dst)[b] = pattern(i, b);
      },
      meta);
}

void expect_pattern(const TensorInfo& t, size_t index) {
  for (size_t b = 0; b < t.bytes; ++b)
    ASSERT_EQ(t.data[b], pattern(index, b)) << t.name << " byte " << b;
}

// ---- writer / reader round trip ----------------------------------------------------------

TEST(Safetensors, RoundTripAllDtypes) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::vector<TensorSpec> specs = {
      {"h.f16", DType::F16, {3}},    {"w.f32", DType::F32, {2, 3}}, {"b.bf16", DType::BF16, {2, 2}},
      {"ids.i32", DType::I32, {3}},  {"ids.i64", DType::I64, {2}},  {"scalar", DType::F32, {}},
      {"empty", DType::F32, {0, 5}}, {"empty64", DType::I64, {0}},
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"kllens", "test"}};
  const std::string path = dir + "/m.safetensors";
  write_pattern(path, specs, meta);

  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->metadata(), meta);
  ASSERT_EQ(f->tensors().size(), specs.size());
  size_t total = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = f->tensors().at(specs[i].name);
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.dtype, specs[i].dtype) << t.name;
    EXPECT_EQ(t.shape, specs[i].shape) << t.name;
    EXPECT_EQ(t.bytes, size_t(shape_numel(t.shape)) * dtype_size(t.dtype)) << t.name;
    EXPECT_EQ(t.file, path);
    // Larger element types are written first, so every tensor is aligned to its size.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype), 0u) << t.name;
    expect_pattern(t, i);
    total += t.bytes;
  }
  EXPECT_EQ(f->tensors().at("scalar").bytes, 4u);
  EXPECT_EQ(f->tensors().at("empty").bytes, 0u);
  // Gap-free data (the reference reader insists on it) after an 8-byte aligned header.
  uint64_t header_len;
  const std::string raw = read_file(path);
  std::memcpy(&header_len, raw.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + header_len + total);
  EXPECT_EQ(dir_listing(dir), std::vector<std::string>{"m.safetensors"});
}

TEST(Safetensors, WriterRefusesDuplicatesAndLeavesNothing) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = dir + "/dup.safetensors";
  EXPECT_TRUE(mentions(error_of([&] {
                         write_pattern(path, {{"a", DType::F32, {1}}, {"a", DType::F16, {1}}});
                       }),
                       {path, "'a'"}));
  EXPECT_TRUE(dir_listing(dir).empty());
}

TEST(Safetensors, WriterFillErrorLeavesNoFile) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = dir + "/w.safetensors";
  EXPECT_THROW(write_safetensors(path, {{"a", DType::F32, {4}}, {"b", DType::F32, {4}}},
                                 [](size_t i, void*, size_t) {
                                   if (i == 1) throw std::runtime_error("producer failed");
                                 }),
               std::runtime_error);
  EXPECT_TRUE(dir_listing(dir).empty());
}

// ---- the real fixture ------------------------------------------------------------------

TEST(Safetensors, TinyMambaFixture) {
  const std::string dir = shared_path("fixtures/tiny-mamba");
  auto f = SafetensorsFile::open(dir + "/model.safetensors");
  const TensorInfo& emb = f->tensors().at("backbone.embeddings.weight");
  EXPECT_EQ(emb.dtype, DType::F32);
  EXPECT_EQ(emb.shape, (Shape{4096, 128}));
  EXPECT_EQ(f->metadata().at("format"), "pt");

  const TensorStore store = TensorStore::open_dir(dir);
  EXPECT_EQ(store.dir(), dir);
  EXPECT_EQ(store.get("backbone.layers.0.mixer.in_proj.weight", {512, 128}).dtype, DType::F32);
  EXPECT_EQ(store.get("backbone.layers.0.mixer.conv1d.weight").shape, (Shape{256, 1, 4}));
  const auto names = store.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.size(), f->tensors().size());
  EXPECT_NE(store.owner("backbone.norm_f.weight"), nullptr);
}

// from_bytes is open() without the file (the fuzz target's entry point): the same tensors,
// pointing into the caller's bytes, and the same refusals naming the given name.
TEST(Safetensors, FromBytesReadsWhatOpenReads) {
  const std::string path = shared_path("fixtures/tiny-mamba/model.safetensors");
  const auto mapped = SafetensorsFile::open(path);
  const std::string bytes = read_file(path);
  const auto mem = SafetensorsFile::from_bytes("in-memory", reinterpret_cast<const uint8_t*>(bytes.data()),
                                               bytes.size());
  ASSERT_EQ(mem->tensors().size(), mapped->tensors().size());
  for (const auto& [name, t] : mapped->tensors()) {
    const TensorInfo& m = mem->tensors().at(name);
    EXPECT_EQ(m.dtype, t.dtype) << name;
    EXPECT_EQ(m.shape, t.shape) << name;
    ASSERT_EQ(m.bytes, t.bytes) << name;
    const auto* begin = reinterpret_cast<const uint8_t*>(bytes.data());
    EXPECT_TRUE(m.data >= begin && m.data + m.bytes <= begin + bytes.size()) << name;
    EXPECT_EQ(std::memcmp(m.data, t.data, t.bytes), 0) << name;
  }
  EXPECT_EQ(mem->metadata(), mapped->metadata());
  EXPECT_TRUE(mentions(error_of([&] {
    SafetensorsFile::from_bytes("in-memory", reinterpret_cast<const uint8_t*>(bytes.data()), 7);
  }), {"in-memory: ", "shorter than the 8-byte header length"}));
  std::string short_header = bytes;
  uint64_t n;
  std::memcpy(&n, short_header.data(), 8);
  --n;  // one byte short: the data section then starts one byte early
  std::memcpy(short_header.data(), &n, 8);
  EXPECT_TRUE(mentions(error_of([&] {
    SafetensorsFile::from_bytes("in-memory", reinterpret_cast<const uint8_t*>(short_header.data()),
                                short_header.size());
  }), {"in-memory: "}));
}

TEST(Safetensors, StoreMissingTensorAndWrongShape) {
  const std::string dir = shared_path("fixtures/tiny-mamba");
  const TensorStore store = TensorStore::open_dir(dir);
  EXPECT_EQ(store.find("lm_head.weight"), nullptr);
  EXPECT_TRUE(mentions(error_of([&] { store.get("lm_head.weight"); }),
                       {dir, "'lm_head.weight'", "missing"}));
  EXPECT_TRUE(
      mentions(error_of([&] {
                 store.get("backbone.embeddings.weight", {4096, 64});
               }),
               {"model.safetensors", "'backbone.embeddings.weight'", "[4096, 128]", "[4096, 64]"}));
}

TEST(Safetensors, StoreWithoutWeights) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  EXPECT_TRUE(mentions(error_of([&] { TensorStore::open_dir(dir); }), {dir, "model.safetensors"}));
}

// ---- sharded folders ---------------------------------------------------------------------

void write_two_shards(const std::string& dir, const nlohmann::json& weight_map) {
  write_pattern(dir + "/model-00001-of-00002.safetensors",
                {{"a", DType::F32, {2, 2}}, {"b", DType::F16, {3}}});
  write_pattern(dir + "/model-00002-of-00002.safetensors", {{"c", DType::BF16, {5}}});
  nlohmann::json index = {{"metadata", {{"total_size", 32}}}, {"weight_map", weight_map}};
  write_file_atomic(dir + "/model.safetensors.index.json", index.dump(2));
}

const nlohmann::json kWeightMap = {{"a", "model-00001-of-00002.safetensors"},
                                   {"b", "model-00001-of-00002.safetensors"},
                                   {"c", "model-00002-of-00002.safetensors"}};

TEST(Safetensors, ShardedStore) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  write_two_shards(dir, kWeightMap);
  const TensorStore store = TensorStore::open_dir(dir);
  EXPECT_EQ(store.names(), (std::vector<std::string>{"a", "b", "c"}));
  const TensorInfo& c = store.get("c", {5});
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_EQ(c.file, dir + "/model-00002-of-00002.safetensors");
  expect_pattern(c, 0);
  expect_pattern(store.get("b"), 1);
  // One mapping per shard, shared by its tensors; it outlives the store.
  EXPECT_EQ(store.owner("a").get(), store.owner("b").get());
  EXPECT_NE(store.owner("a").get(), store.owner("c").get());
  std::shared_ptr<const void> keep = store.owner("c");
  const uint8_t first = c.data[0];
  { const TensorStore copy = store; }
  EXPECT_EQ(c.data[0], first);
}

TEST(Safetensors, ShardMissing) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  nlohmann::json map = kWeightMap;
  map["d"] = "model-00003-of-00002.safetensors";
  write_two_shards(dir, map);
  EXPECT_TRUE(
      mentions(error_of([&] { TensorStore::open_dir(dir); }),
               {"model.safetensors.index.json", "model-00003-of-00002.safetensors", "'d'"}));
}

TEST(Safetensors, ShardLacksListedTensor) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  nlohmann::json map = kWeightMap;
  map["c"] = "model-00001-of-00002.safetensors";
  write_two_shards(dir, map);
  EXPECT_TRUE(
      mentions(error_of([&] { TensorStore::open_dir(dir); }),
               {"model.safetensors.index.json", "model-00001-of-00002.safetensors", "'c'"}));
}

TEST(Safetensors, IndexWithoutWeightMap) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  write_file_atomic(dir + "/model.safetensors.index.json", "{\"metadata\": {}}");
  EXPECT_TRUE(
      mentions(error_of([&] { TensorStore::open_dir(dir); }), {"index.json", "weight_map"}));
}

// ---- refusals at open ----------------------------------------------------------------------

TEST(SafetensorsRefuses, TruncatedFile) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = dir + "/short.safetensors";
  write_file_atomic(path, "abcde");
  EXPECT_TRUE(mentions(open_error(path), {path, "8"}));
}

TEST(SafetensorsRefuses, MissingFile) {
  const TestDir tmp;
  const std::string path = tmp.path + "/none.safetensors";
  EXPECT_TRUE(mentions(open_error(path), {path, "cannot open"}));
}

// A FIFO or a folder is refused before anything is mapped; the FIFO without waiting for a
// writer (FileBytes opens with O_NONBLOCK: a plain open() would block here for ever).
TEST(SafetensorsRefuses, FifoAndFolder) {
  const TestDir tmp;
  const std::string fifo = tmp.path + "/fifo.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(mentions(open_error(fifo), {fifo, "not a regular file"}));
  EXPECT_TRUE(mentions(open_error(tmp.path), {tmp.path, "not a regular file"}));
}

TEST(SafetensorsRefuses, HeaderLongerThanFile) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = write_raw(dir, "{}", 0);
  std::string raw = read_file(path);
  const uint64_t n = 1000;
  std::memcpy(raw.data(), &n, 8);
  write_file_atomic(path, raw);
  EXPECT_TRUE(mentions(open_error(path), {path, "1000"}));
}

TEST(SafetensorsRefuses, AbsurdHeaderLength) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = write_raw(dir, "{}", 0);
  std::string raw = read_file(path);
  const uint64_t n = uint64_t(1) << 40;
  std::memcpy(raw.data(), &n, 8);
  write_file_atomic(path, raw);
  EXPECT_TRUE(mentions(open_error(path), {path, "absurd"}));
}

TEST(SafetensorsRefuses, MalformedHeaderJson) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = write_raw(dir, "{\"w\": {\"dtype\": \"F32\",", 0);
  EXPECT_TRUE(mentions(open_error(path), {path, "malformed JSON"}));
}

TEST(SafetensorsRefuses, HeaderNotObject) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  EXPECT_TRUE(
      mentions(open_error(write_raw(dir, "[1, 2]", 0)), {"bad.safetensors", "not an object"}));
}

TEST(SafetensorsRefuses, MetadataNotStrings) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = write_raw(dir, R"({"__metadata__": {"step": 5}})", 0);
  EXPECT_TRUE(mentions(open_error(path), {path, "__metadata__", "step"}));
}

TEST(SafetensorsRefuses, EntryMissingKey) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = write_raw(dir, R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4);
  EXPECT_TRUE(mentions(open_error(path), {path, "'w'", "dtype"}));
}

TEST(SafetensorsRefuses, EntryWrongTypes) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  EXPECT_TRUE(mentions(
      open_error(write_raw(dir, R"({"w": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}})", 4)),
      {"bad.safetensors", "'w'", "dtype"}));
  EXPECT_TRUE(
      mentions(open_error(write_raw(
                   dir, R"({"w": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", 4)),
               {"bad.safetensors", "'w'", "shape"}));
  EXPECT_TRUE(
      mentions(open_error(write_raw(
                   dir, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4)),
               {"bad.safetensors", "'w'", "data_offsets"}));
  EXPECT_TRUE(
      mentions(open_error(write_raw(dir, R"({"w": [1, 2]})", 4)), {"bad.safetensors", "'w'"}));
}

TEST(SafetensorsRefuses, UnknownDtype) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path =
      write_raw(dir, R"({"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})", 8);
  EXPECT_TRUE(mentions(open_error(path), {path, "'w'", "F64"}));
}

TEST(SafetensorsRefuses, NegativeDim) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path =
      write_raw(dir, R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4);
  EXPECT_TRUE(mentions(open_error(path), {path, "'w'", "shape"}));
}

TEST(SafetensorsRefuses, OffsetsReversed) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path =
      write_raw(dir, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4);
  EXPECT_TRUE(mentions(open_error(path), {path, "'w'", "data_offsets"}));
}

TEST(SafetensorsRefuses, OffsetsPastEnd) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path =
      write_raw(dir, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  EXPECT_TRUE(mentions(open_error(path), {path, "'w'", "past"}));
}

TEST(SafetensorsRefuses, SizeNotShapeTimesDtype) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path =
      write_raw(dir, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8);
  EXPECT_TRUE(mentions(open_error(path), {path, "'w'", "12"}));
}

TEST(SafetensorsRefuses, ShapeOverflow) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  // 2^62 · 2^2 · 4 bytes wraps to 0 in 64 bits; it must not pass as an empty tensor.
  const std::string path = write_raw(
      dir, R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}})",
      0);
  EXPECT_TRUE(mentions(open_error(path), {path, "'w'", "too large"}));
}

TEST(SafetensorsRefuses, OverlappingTensors) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path =
      write_raw(dir,
                R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                12);
  EXPECT_TRUE(mentions(open_error(path), {path, "'a'", "'b'", "overlap"}));
}

TEST(Safetensors, EmptyTensorInsideAnotherIsNoOverlap) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path =
      write_raw(dir,
                R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})",
                8);
  EXPECT_EQ(SafetensorsFile::open(path)->tensors().size(), 2u);
}

// ---- AtomicFile ----------------------------------------------------------------------------

TEST(AtomicFile, NothingWithoutCommit) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = dir + "/out.txt";
  try {
    AtomicFile f(path);
    f.write("partial ");
    std::fputs("output", f.file());
    throw std::runtime_error("simulated failure");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(dir_listing(dir).empty());
}

TEST(AtomicFile, CommitPublishesAndReplaces) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  const std::string path = dir + "/out.txt";
  write_file_atomic(path, "old");
  {
    AtomicFile f(path);
    f.write("new ");
    f.write("contents", 8);
    EXPECT_EQ(read_file(path), "old");  // not visible before commit
    f.commit();
  }
  EXPECT_EQ(read_file(path), "new contents");
  {
    AtomicFile f(path);
    f.write("abandoned");
  }
  EXPECT_EQ(read_file(path), "new contents");
  EXPECT_EQ(dir_listing(dir), std::vector<std::string>{"out.txt"});
}

TEST(AtomicFile, ErrorsNameThePath) {
  const TestDir tmp;
  const std::string& dir = tmp.path;
  EXPECT_TRUE(mentions(error_of([&] { read_file(dir + "/absent.txt"); }),
                       {dir + "/absent.txt", "cannot open"}));
  EXPECT_TRUE(
      mentions(error_of([&] { AtomicFile f(dir + "/no/such/dir/x"); }), {dir + "/no/such/dir/x"}));
}

}  // namespace
}  // namespace kllens::test
