// embed on the CPU: both tiers gather exactly the stored rows (F16/BF16 widen exactly
// to F32; quantised rows are scale · q rounded once in both tiers), into strided outputs,
// and an id outside the table is an error.
#include <gtest/gtest.h>

#include "cpu/cpu_features.h"
#include "cpu/embed.h"
#include "kllens/error.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

TEST(CpuEmbed, BothTiersGatherExactRows) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(21);
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_C, DType::Q4_C, DType::Q8_0,
                     DType::Q4_0}) {
    // 48 and 33: tail groups after whole 32-blocks and 16-element Q4_C vectors.
    for (int64_t H : {1, 7, 8, 33, 48, 768}) {
      const int64_t V = 50, n = 17;
      const Weight table = test::random_weight(*be, rng, type, V, H, false);
      std::uniform_int_distribution<int32_t> pick(0, int32_t(V - 1));
      std::vector<int32_t> idv(static_cast<size_t>(n));
      for (int32_t& i : idv) i = pick(rng);
      idv[0] = 0;
      idv[1] = int32_t(V - 1);
      const Tensor ids = be->alloc(DType::I32, {n});
      be->upload(ids, idv.data());
      const Tensor ref = test::random_f32(*be, rng, n, H, 0.0f, 1.0f, 3);
      cpu::embed_ref(table, ids, ref);
      // Widening F16/BF16 to F32 is exact and a code is scaled with one rounding, so every
      // tier must give the same bits.
      for (bool scalar : {false, true}) {
        if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
        const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
        const Tensor got = test::clone(*be, ref);
        tiered->embed(table, ids, got);
        EXPECT_EQ(test::to_host(*be, ref), test::to_host(*be, got))
            << dtype_name(type) << " H=" << H << (scalar ? " scalar" : " avx2");
      }
    }
  }
}

TEST(CpuEmbed, IdOutOfRangeThrows) {
  auto be = make_cpu_backend(best_cpu_tier());
  const Tensor table = be->alloc(DType::F32, {10, 4});
  be->fill_zero(table);
  const Tensor out = be->alloc(DType::F32, {2, 4});
  const Tensor ids = be->alloc(DType::I32, {2});
  for (bool scalar : {false, true}) {
    if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
    const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
    for (std::pair<int32_t, int32_t> bad : {std::pair{3, 10}, {-1, 2}}) {
      be->upload(ids, &bad);
      EXPECT_THROW(tiered->embed(Weight{table}, ids, out), Error) << bad.first << "," << bad.second;
    }
  }
}

}  // namespace
}  // namespace kllens
