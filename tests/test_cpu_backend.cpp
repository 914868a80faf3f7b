// The CPU backend's memory and data-movement ops: aligned allocation, upload/download of
// strided tensors, import_host without a copy, copy and fill_zero between column slices,
// and add (both tiers, exact: one fp32 add per element); an imported weight's stored
// pages after the fast matmul has packed it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>

#include "core/tensor_view.h"
#include "cpu/cpu_features.h"
#include "kllens/error.h"
#include "kllens/file_bytes.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

TEST(CpuBackend, AllocIsAlignedAndContiguous) {
  auto be = make_cpu_backend(best_cpu_tier());
  EXPECT_EQ(be->name(), "cpu");
  for (int64_t n : {1, 3, 1000}) {
    const Tensor t = be->alloc(DType::F32, {n, 5});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.host_ptr()) % 64, 0u);
    EXPECT_TRUE(t.contiguous());
    EXPECT_GE(t.buf->bytes(), size_t(n * 5 * 4));
  }
  const Tensor q = be->alloc(DType::Q4_0, {3, 48});
  EXPECT_EQ(q.buf->bytes(), 3 * 2 * 18u);
}

// KLLENS_CPU_TIER caps best_cpu_tier (same-machine A/B timings); a name that is no tier
// is refused with one line that names the variable and the tiers.
TEST(CpuBackend, CpuTierVariableCapsTheBestTier) {
  const CpuTier best = best_cpu_tier();
  ASSERT_EQ(::setenv("KLLENS_CPU_TIER", "reference", 1), 0);
  EXPECT_EQ(best_cpu_tier(), CpuTier::reference);
  EXPECT_EQ(make_cpu_backend(best_cpu_tier())->name(), "cpu");
  ASSERT_EQ(::setenv("KLLENS_CPU_TIER", "avx2", 1), 0);
  EXPECT_EQ(best_cpu_tier(), cpu_tier_supported(CpuTier::avx2) ? CpuTier::avx2 : CpuTier::reference);
  ASSERT_EQ(::setenv("KLLENS_CPU_TIER", "avx512", 1), 0);
  EXPECT_EQ(best_cpu_tier(), best);
  ASSERT_EQ(::setenv("KLLENS_CPU_TIER", "sse9", 1), 0);
  try {
    best_cpu_tier();
    ADD_FAILURE() << "KLLENS_CPU_TIER=sse9 was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "KLLENS_CPU_TIER: 'sse9' is not a CPU tier (reference, avx2, avx512)");
  }
  ASSERT_EQ(::unsetenv("KLLENS_CPU_TIER"), 0);
  EXPECT_EQ(best_cpu_tier(), best);
  EXPECT_EQ(best, cpu_tier_supported(CpuTier::avx512) ? CpuTier::avx512
                  : cpu_tier_supported(CpuTier::avx2) ? CpuTier::avx2
                                                      : CpuTier::reference);
}

TEST(CpuBackend, DownloadPacksStridedRows) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::vector<float> v(4 * 6);
  std::iota(v.begin(), v.end(), 0.0f);
  const Tensor full = be->alloc(DType::F32, {4, 6});
  be->upload(full, v.data());
  std::vector<float> got(4 * 2);
  be->download(full.slice_cols(3, 2), got.data());
  EXPECT_EQ(got, (std::vector<float>{3, 4, 9, 10, 15, 16, 21, 22}));
  EXPECT_THROW(be->upload(full.slice_cols(3, 2), v.data()), Error);
}

// Resident pages of [p, p + bytes) (whole pages only).
size_t resident_pages(const void* p, size_t bytes) {
  const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + bytes) / page * page;
  std::vector<unsigned char> v((end - begin) / page);
  if (v.empty() || mincore(reinterpret_cast<void*>(begin), end - begin, v.data()) != 0) return 0;
  return size_t(std::count_if(v.begin(), v.end(), [](unsigned char c) { return c & 1; }));
}

// A random Q4_0 weight [256, 4096] (576 KiB: 144 pages) written to a file of its own.
struct WeightFile {
  Weight w;
  std::vector<uint8_t> bytes;
  std::string path;
  int64_t N = 256, K = 4096;
};

WeightFile write_weight_file(Backend& be, std::mt19937& rng, const char* name) {
  WeightFile f;
  f.w = test::random_weight(be, rng, DType::Q4_0, f.N, f.K, false);
  f.bytes.resize(f.w.w.span_bytes());
  be.download(f.w.w, f.bytes.data());
  f.path = (std::filesystem::path(::testing::TempDir()) / name).string();
  const int fd = ::open(f.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, f.bytes.data(), f.bytes.size()), ssize_t(f.bytes.size()));
  EXPECT_EQ(::fsync(fd), 0);  // clean page cache pages: reclaim need not write them back
  ::close(fd);
  return f;
}

// Reads a byte of every page, so each is mapped into this process (MADV_PAGEOUT only
// reclaims pages the process maps; mincore counts the file's cached pages, mapped or not).
void touch(const void* p, size_t bytes) {
  const auto* v = static_cast<const volatile uint8_t*>(p);
  const auto page = size_t(sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < bytes; i += page) (void)v[i];
}

// Once the fast matmul has packed an imported weight, the backend pages out its stored
// bytes (cpu_backend.cpp, page_out). Nothing may be lost: the exact matmul and embed,
// which read the stored bytes, give what they gave before, for a file mapping (the
// pages fault in again from the file) and for anonymous memory (which page_out must not
// discard: MADV_DONTNEED in its place fails here).
TEST(CpuBackend, PackedWeightPagesOutItsStoredBytesAndStillReadsThem) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU: no packed copy";
  auto be = make_cpu_backend(CpuTier::avx2);
  std::mt19937 rng(5);
  const WeightFile f = write_weight_file(*be, rng, "packed_page_out.bin");
  const int64_t N = f.N, K = f.K;
  const auto file = std::make_shared<FileBytes>(FileBytes::map(f.path));
  const auto heap = std::make_shared<std::vector<uint8_t>>(f.bytes);
  const Tensor x = test::random_f32(*be, rng, 1, K, -1.0f, 1.0f);
  const Tensor ids = be->alloc(DType::I32, {2});
  const int32_t rows[2] = {3, 200};
  be->upload(ids, rows);
  struct Owner { const char* what; std::shared_ptr<const void> keep; const void* data; };
  for (const Owner& o : {Owner{"file mapping", file, file->data()}, Owner{"heap", heap, heap->data()}}) {
    auto run = [&](MatmulMode mode, bool gather) {
      Weight imported{be->import_host(o.keep, o.data, DType::Q4_0, {N, K}), {}, {}};
      const Tensor out = be->alloc(DType::F32, {1, N}), emb = be->alloc(DType::F32, {2, K});
      be->set_matmul_mode(mode);
      if (gather) be->embed(imported, ids, emb);
      be->matmul(x, imported, out);
      return std::make_pair(imported, test::to_host(*be, out));
    };
    const auto [exact_w, exact] = run(MatmulMode::exact, false);
    // A fresh import: its first fast matmul packs it and pages the stored bytes out.
    const auto [fast_w, fast] = run(MatmulMode::fast, false);
    EXPECT_NE(fast, exact) << o.what << ": fast mode did not run";
    be->set_matmul_mode(MatmulMode::exact);
    const Tensor again = be->alloc(DType::F32, {1, N});
    be->matmul(x, fast_w, again);
    EXPECT_EQ(test::to_host(*be, again), exact) << o.what;
    const Tensor emb = be->alloc(DType::F32, {2, K}), emb_ref = be->alloc(DType::F32, {2, K});
    be->embed(fast_w, ids, emb);
    be->embed(f.w, ids, emb_ref);
    EXPECT_EQ(test::to_host(*be, emb), test::to_host(*be, emb_ref)) << o.what;
    std::vector<uint8_t> stored(f.bytes.size());
    std::memcpy(stored.data(), o.data, f.bytes.size());
    EXPECT_EQ(stored, f.bytes) << o.what;
    // A weight embed has read (a tied embedding) is packed as well and gives the same.
    const auto [tied_w, tied] = run(MatmulMode::fast, true);
    EXPECT_EQ(tied, fast) << o.what;
  }
  be->set_matmul_mode(MatmulMode::exact);
  std::filesystem::remove(f.path);
}

// And the pages of a file mapping do leave memory. Where this kernel and file system
// keep a clean file mapping's pages on MADV_PAGEOUT itself (a kernel before 5.4, a tmpfs
// without swap), there is nothing to check: a probe madvise of the mapping says which.
// The kernel may leave pages it cannot isolate at that moment (another core's LRU batch,
// a large folio it fails to split under load), so each of three fresh imports gets its
// chance; without page_out all three keep every page.
TEST(CpuBackend, PackedWeightsFilePagesLeaveMemory) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU: no packed copy";
  auto be = make_cpu_backend(CpuTier::avx2);
  be->set_matmul_mode(MatmulMode::fast);
  std::mt19937 rng(6);
  const WeightFile f = write_weight_file(*be, rng, "packed_page_out_resident.bin");
  const auto file = std::make_shared<FileBytes>(FileBytes::map(f.path));
  const size_t total = f.bytes.size() / size_t(sysconf(_SC_PAGESIZE));
  size_t probe_left = total;
  for (int attempt = 0; attempt < 3 && probe_left * 2 >= total; ++attempt) {
    touch(file->data(), f.bytes.size());
    if (::madvise(const_cast<uint8_t*>(file->data()), f.bytes.size(), MADV_PAGEOUT) != 0) break;
    probe_left = resident_pages(file->data(), f.bytes.size());
  }
  if (probe_left * 2 >= total)
    GTEST_SKIP() << "this kernel or file system keeps a clean file mapping's pages on MADV_PAGEOUT ("
                 << probe_left << " of " << total << " pages stayed)";
  const Tensor x = test::random_f32(*be, rng, 1, f.K, -1.0f, 1.0f);
  const Tensor out = be->alloc(DType::F32, {1, f.N});
  size_t before = 0, after = total;
  for (int attempt = 0; attempt < 3 && after * 2 >= total; ++attempt) {
    touch(file->data(), f.bytes.size());
    before = resident_pages(file->data(), f.bytes.size());
    const Weight imported{be->import_host(file, file->data(), DType::Q4_0, {f.N, f.K}), {}, {}};
    be->matmul(x, imported, out);
    after = resident_pages(file->data(), f.bytes.size());
  }
  EXPECT_EQ(before, total);
  EXPECT_LT(after * 2, total) << "resident pages " << before << " -> " << after << " of " << total;
  be->set_matmul_mode(MatmulMode::exact);
  std::filesystem::remove(f.path);
}

TEST(CpuBackend, ImportHostBorrowsWithoutCopy) {
  auto be = make_cpu_backend(best_cpu_tier());
  auto data = std::make_shared<std::vector<uint16_t>>(12, uint16_t(0x3c00));  // F16 1.0
  Tensor t = be->import_host(data, data->data(), DType::F16, {3, 4});
  EXPECT_EQ(t.host_ptr(), data->data());
  std::weak_ptr<std::vector<uint16_t>> watch = data;
  data.reset();
  EXPECT_FALSE(watch.expired());  // the tensor keeps the owner alive
  const Tensor out = be->alloc(DType::F32, {1, 3});
  const Tensor x = be->alloc(DType::F32, {1, 4});
  const std::vector<float> ones(4, 1.0f);
  be->upload(x, ones.data());
  be->matmul(x, Weight{t, {}, {}}, out);
  EXPECT_EQ(test::to_host(*be, out), (std::vector<float>{4, 4, 4}));
  t = Tensor{};
  EXPECT_TRUE(watch.expired());
}

TEST(CpuBackend, CopyAndFillZeroTouchOnlyTheirColumns) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(5);
  const Tensor src = test::random_f32(*be, rng, 5, 7, -1.0f, 1.0f, 4);
  const Tensor full = be->alloc(DType::F32, {5, 12});
  std::vector<float> sentinel(5 * 12, 9.0f);
  be->upload(full, sentinel.data());
  const Tensor dst = full.slice_cols(2, 7);
  be->copy(src, dst);
  EXPECT_EQ(test::to_host(*be, src), test::to_host(*be, dst));
  be->fill_zero(full.slice_cols(9, 2));
  const std::vector<float> after = test::to_host(*be, full);
  for (int64_t r = 0; r < 5; ++r) {
    EXPECT_EQ(after[size_t(r * 12 + 1)], 9.0f);
    EXPECT_EQ(after[size_t(r * 12 + 9)], 0.0f);
    EXPECT_EQ(after[size_t(r * 12 + 10)], 0.0f);
    EXPECT_EQ(after[size_t(r * 12 + 11)], 9.0f);
  }
  EXPECT_THROW(be->copy(src, be->alloc(DType::F32, {5, 6})), Error);
  EXPECT_THROW(be->copy(src, be->alloc(DType::F16, {5, 7})), Error);
}

// Views are made by checked methods only: a view outside its tensor is refused.
TEST(CpuBackend, ViewsOutsideTheirTensorAreRefused) {
  auto be = make_cpu_backend(best_cpu_tier());
  const Tensor t = be->alloc(DType::F16, {3, 8});  // 48 bytes
  const Tensor words = view_as(t, 8, DType::I32, {2, 5});
  EXPECT_EQ(words.offset, t.offset + 8);
  EXPECT_EQ(words.span_bytes(), 40u);
  EXPECT_THROW(view_as(t, 12, DType::I32, {2, 5}), Error);  // 4 bytes past the end
  EXPECT_THROW(view_as(t, 64, DType::I32, {1}), Error);
  EXPECT_THROW(view_as(t.slice_cols(0, 4), 0, DType::I32, {1}), Error);  // strided
  EXPECT_THROW(t.slice_rows(2, 2), Error);
  EXPECT_THROW(t.slice_cols(6, 3), Error);
  EXPECT_THROW(t.slice_elems(20, 5), Error);
  EXPECT_THROW(t.reshape({5, 5}), Error);
  EXPECT_THROW(t.reshape_rows({4, 8}), Error);
}

TEST(CpuBackend, AddBothTiersExact) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(6);
  for (int64_t C : {1, 7, 33, 1536}) {
    const Tensor a = test::random_f32(*be, rng, 9, C, -1.0f, 1.0f, 2);
    const Tensor b = test::random_f32(*be, rng, 9, C, -1.0f, 1.0f);
    const std::vector<float> av = test::to_host(*be, a), bv = test::to_host(*be, b);
    std::vector<float> want(av.size());
    for (size_t i = 0; i < av.size(); ++i) want[i] = av[i] + bv[i];
    for (bool scalar : {false, true}) {
      if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
      const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
      const Tensor out = test::random_f32(*be, rng, 9, C, 0.0f, 1.0f, 3);
      tiered->add(a, b, out);
      EXPECT_EQ(want, test::to_host(*be, out)) << "C=" << C << (scalar ? " scalar" : "");
    }
  }
  EXPECT_THROW(be->add(be->alloc(DType::F32, {2, 3}), be->alloc(DType::F32, {2, 4}),
                       be->alloc(DType::F32, {2, 3})),
               Error);
}

}  // namespace
}  // namespace kllens
