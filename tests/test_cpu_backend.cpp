// The CPU backend's memory and data-movement ops: aligned allocation, upload/download of
// strided tensors, import_host without a copy, copy and fill_zero between column slices,
// and add (both tiers, exact: one fp32 add per element).
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>

#include "core/tensor_view.h"
#include "cpu/cpu_features.h"
#include "kllens/error.h"
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
