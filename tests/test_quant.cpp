// Symmetric abs-max quantisation (src/quant): the fixtures' formula value by value, round
// half to even, tail groups, error bounds, byte-identical results from every path (host,
// CPU backend override, Backend default), and matmul on quantised weights.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cpu/dequant.h"
#include "kllens/error.h"
#include "kllens/quant.h"
#include "support/compare.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

const QuantSpec kSpecs[] = {{8, 0}, {4, 0}, {8, 32}, {4, 32}, {8, 64}, {4, 64}, {8, 128}, {4, 128}};
const int64_t kCols[] = {1, 7, 31, 32, 33, 48, 100, 129, 257};

std::vector<float> random_matrix(std::mt19937& rng, int64_t N, int64_t K) {
  std::normal_distribution<float> nd(0.0f, 0.5f);
  std::vector<float> w(size_t(N * K));
  for (auto& x : w) x = nd(rng);
  if (N > 2) for (int64_t k = 0; k < K; ++k) w[size_t(2 * K + k)] = 0.0f;  // an all-zero row
  return w;
}

// The formula of fixtures/README.md, written out independently: scale per row (group 0)
// or per group (FP16-rounded, the value the file holds), q = clamp(rne(w/scale)).
std::vector<float> expected(const std::vector<float>& w, int64_t N, int64_t K, QuantSpec s,
                            std::vector<float>* scales = nullptr) {
  const int qmax = s.qmax();
  const int64_t g = s.group == 0 ? K : s.group;
  std::vector<float> out(w.size());
  for (int64_t r = 0; r < N; ++r)
    for (int64_t g0 = 0; g0 < K; g0 += g) {
      const int64_t n = std::min(g, K - g0);
      float amax = 0;
      for (int64_t k = g0; k < g0 + n; ++k) amax = std::max(amax, std::fabs(w[size_t(r * K + k)]));
      float scale = std::max(amax, 1e-5f) / float(qmax);
      if (s.group != 0) scale = f16_to_f32(f32_to_f16(scale));
      if (scales) scales->push_back(scale);
      for (int64_t k = g0; k < g0 + n; ++k) {
        float q = std::nearbyint(w[size_t(r * K + k)] / scale);
        q = std::clamp(q, float(-qmax - 1), float(qmax));
        out[size_t(r * K + k)] = q * scale;
      }
    }
  return out;
}

TEST(Quant, MatchesTheFormulaExactlyWithinErrorBounds) {
  std::mt19937 rng(1);
  for (const QuantSpec& s : kSpecs)
    for (int64_t K : kCols) {
      const int64_t N = 5;
      const auto w = random_matrix(rng, N, K);
      const HostQuant q = quantize(w.data(), N, K, s);
      EXPECT_EQ(q.type, s.storage());
      const auto got = dequantize(q);
      std::vector<float> scales;
      const auto want = expected(w, N, K, s, &scales);
      const int64_t g = s.group == 0 ? K : s.group, groups = (K + g - 1) / g;
      for (int64_t r = 0; r < N; ++r)
        for (int64_t k = 0; k < K; ++k) {
          const size_t i = size_t(r * K + k);
          ASSERT_EQ(got[i], want[i]) << s.name() << " K=" << K << " [" << r << "," << k << "]";
          // |w − w'| ≤ scale/2, plus what a clamp cuts off when the FP16 scale rounded down.
          const float sc = scales[size_t(r * groups + k / g)];
          const double bound = 0.5 * sc * (1 + 1e-6) +
                               std::max(0.0, std::fabs(double(w[i])) - s.qmax() * double(sc));
          ASSERT_LE(std::fabs(double(w[i]) - got[i]), bound) << s.name() << " K=" << K;
        }
    }
}

TEST(Quant, RoundsHalfToEven) {
  // Scale exactly 1 (absmax = qmax), so w/scale lands on the ties themselves.
  const std::vector<float> row8 = {127, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f};
  const std::vector<float> want8 = {127, 0, 2, 2, 0, -2, -2, 126};
  const std::vector<float> row4 = {7, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 6.5f};
  const std::vector<float> want4 = {7, 0, 2, 2, 0, -2, -2, 6};
  for (int group : {0, 32, 64, 128}) {
    EXPECT_EQ(dequantize(quantize(row8.data(), 1, 8, {8, group})), want8) << group;
    EXPECT_EQ(dequantize(quantize(row4.data(), 1, 8, {4, group})), want4) << group;
  }
}

TEST(Quant, TailGroupOfADtProjRow) {
  // K = 48 as mamba-130m's dt_proj: elements 0..31 small, 32..47 large. Group 32 gives the
  // tail its own scale; 64 and 128 cover the whole row with one scale.
  std::vector<float> row(48);
  for (int k = 0; k < 48; ++k) row[size_t(k)] = (k < 32 ? 0.001f : 1.0f) * float((k % 5) - 2);
  for (int bits : {8, 4}) {
    const auto g32 = dequantize(quantize(row.data(), 1, 48, {bits, 32}));
    const auto g64 = dequantize(quantize(row.data(), 1, 48, {bits, 64}));
    const auto g128 = dequantize(quantize(row.data(), 1, 48, {bits, 128}));
    EXPECT_EQ(g32, expected(row, 1, 48, {bits, 32}));
    EXPECT_EQ(g64, expected(row, 1, 48, {bits, 64}));
    EXPECT_EQ(g64, g128);
    // The small head keeps its resolution only with its own group.
    EXPECT_NE(g32[1], 0.0f);
    EXPECT_EQ(g64[1], 0.0f);
  }
  // The stored blocks: Q8_0 rows of 48 take two blocks; both carry the 64-group's d.
  const HostQuant q = quantize(row.data(), 1, 48, {8, 64});
  ASSERT_EQ(q.data.size(), 68u);
  EXPECT_EQ(q.data[0], q.data[34]);
  EXPECT_EQ(q.data[1], q.data[35]);
  for (int j = 16; j < 32; ++j) EXPECT_EQ(q.data[size_t(34 + 2 + j)], 0) << "unused slot " << j;
}

TEST(Quant, EveryPathGivesTheSameBytes) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(2);
  for (const QuantSpec& s : kSpecs)
    for (int64_t K : {48, 100, 256}) {
      const int64_t N = 37;
      const auto w = random_matrix(rng, N, K);
      Weight src;
      src.w = be->alloc(DType::F32, {N, K});
      be->upload(src.w, w.data());
      const HostQuant ref = quantize(w.data(), N, K, s);
      for (int path = 0; path < 3; ++path) {
        Weight q = path == 0 ? quantize_weight(*be, src, s)
                 : path == 1 ? quantize_weight_host(*be, src, s)
                             : (s.group == 0 || s.group == 32 ? be->Backend::quantize_weight(src, s.storage())
                                                              : quantize_weight_host(*be, src, s));
        ASSERT_EQ(q.w.dtype, ref.type);
        std::vector<uint8_t> bytes(ref.data.size());
        be->download(q.w, bytes.data());
        EXPECT_EQ(bytes, ref.data) << s.name() << " K=" << K << " path " << path;
        if (!ref.scale.empty()) {
          std::vector<float> sc(static_cast<size_t>(N));
          be->download(q.scale, sc.data());
          EXPECT_EQ(sc, ref.scale);
        } else {
          EXPECT_TRUE(q.scale.empty());
        }
      }
    }
}

TEST(Quant, MatmulOnQuantisedEqualsMatmulOnDequantised) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(3);
  for (const QuantSpec& s : kSpecs)
    for (int64_t K : {48, 130, 512})
      for (int64_t rows : {1, 9}) {
        const int64_t N = 67;
        const auto w = random_matrix(rng, N, K);
        Weight src;
        src.w = be->alloc(DType::F32, {N, K});
        be->upload(src.w, w.data());
        src.bias = test::random_f32(*be, rng, 1, N, -1, 1).reshape({N});
        const Weight q = quantize_weight(*be, src, s);
        const auto deq = dequantize(quantize(w.data(), N, K, s));
        Weight f;
        f.w = be->alloc(DType::F32, {N, K});
        be->upload(f.w, deq.data());
        f.bias = src.bias;
        const Tensor x = test::random_f32(*be, rng, rows, K, -1, 1);
        const Tensor a = be->alloc(DType::F32, {rows, N}), b = be->alloc(DType::F32, {rows, N});
        be->matmul(x, q, a);
        be->matmul(x, f, b);
        // Same products, only the fp32 summation order may differ: NMSE ~1e-14.
        EXPECT_TRUE(test::close(test::to_host(*be, b), test::to_host(*be, a), {rows, N}, 1e-10))
            << s.name() << " K=" << K << " rows=" << rows;
      }
}

// ---- fake quantisation (probe-only INT3 / INT2) ----------------------------------------

TEST(FakeQuant, EqualsTheStoredWeightDequantisedAt8And4Bits) {
  std::mt19937 rng(4);
  for (const QuantSpec& s : kSpecs)
    for (int64_t K : kCols) {
      const int64_t N = 5;
      const auto w = random_matrix(rng, N, K);
      EXPECT_EQ(fake_quantize(w.data(), N, K, s), dequantize(quantize(w.data(), N, K, s)))
          << s.name() << " K=" << K;
    }
}

TEST(FakeQuant, Int3AndInt2MatchTheFormulaWithinHalfAStep) {
  std::mt19937 rng(5);
  for (int bits : {3, 2})
    for (int group : {0, 32, 64, 128})
      for (int64_t K : kCols) {
        const QuantSpec s{bits, group};
        const int64_t N = 5;
        const auto w = random_matrix(rng, N, K);
        std::vector<float> scales;
        const auto got = fake_quantize(w.data(), N, K, s);
        ASSERT_EQ(got, expected(w, N, K, s, &scales)) << s.name() << " K=" << K;
        // Every value within half a step of w, and on the grid {-qmax..qmax}·scale.
        const int64_t g = group == 0 ? K : group, per_row = (K + g - 1) / g;
        for (int64_t r = 0; r < N; ++r)
          for (int64_t k = 0; k < K; ++k) {
            const float sc = scales[size_t(r * per_row + k / g)];
            const float x = w[size_t(r * K + k)], y = got[size_t(r * K + k)];
            EXPECT_LE(std::fabs(x - y), 0.5f * sc * (1 + 1e-6f)) << s.name() << " " << r << "," << k;
            EXPECT_LE(std::fabs(y / sc), float(s.qmax()) + 1e-6f);
          }
      }
}

TEST(FakeQuant, HandWorkedRows) {
  // absmax 1: INT2 has qmax 1, scale 1, so it is ternary: rne(0.9) = 1, rne(±0.3) = 0,
  // rne(0.5) = 0 (half to even). INT3 has qmax 3, scale 1/3: w/s = 2.7, −0.9, 0.6, −3, 1.5.
  const std::vector<float> row = {0.9f, -0.3f, 0.2f, -1.0f, 0.5f};
  EXPECT_EQ(fake_quantize(row.data(), 1, 5, {2, 0}), (std::vector<float>{1, 0, 0, -1, 0}));
  const float s = 1.0f / 3.0f;
  EXPECT_EQ(fake_quantize(row.data(), 1, 5, {3, 0}), (std::vector<float>{3 * s, -1 * s, 1 * s, -3 * s, 2 * s}));
}

TEST(FakeQuant, ProbeOnlyWidthsHaveNoStorage) {
  for (const QuantSpec s : {QuantSpec{3, 0}, QuantSpec{2, 32}}) {
    EXPECT_NO_THROW(s.validate());
    EXPECT_FALSE(s.storable());
    EXPECT_THROW(s.storage(), Error);
    EXPECT_THROW(QuantSpec::parse(s.name()), Error);  // no plan or checkpoint names them
  }
  EXPECT_EQ((QuantSpec{2, 32}).name(), "q2_g32");
  EXPECT_THROW((QuantSpec{5, 0}).validate(), Error);
  EXPECT_THROW((QuantSpec{1, 0}).validate(), Error);
}

TEST(FakeQuant, QuantizeWeightGivesAnF32WeightOfTheFakeValues) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(6);
  for (const QuantSpec s : {QuantSpec{3, 0}, QuantSpec{2, 0}, QuantSpec{3, 32}, QuantSpec{2, 128}}) {
    const int64_t N = 37, K = 100;
    const auto w = random_matrix(rng, N, K);
    Weight src;
    src.w = be->alloc(DType::F32, {N, K});
    be->upload(src.w, w.data());
    src.bias = test::random_f32(*be, rng, 1, N, -1, 1).reshape({N});
    const Weight q = quantize_weight(*be, src, s);
    ASSERT_EQ(q.w.dtype, DType::F32);
    EXPECT_TRUE(q.scale.empty());
    EXPECT_EQ(test::to_host(*be, q.w), fake_quantize(w.data(), N, K, s)) << s.name();
    EXPECT_EQ(q.bias.buf, src.bias.buf);
  }
}

TEST(Quant, SpecsAndSizes) {
  for (const QuantSpec& s : kSpecs) EXPECT_EQ(QuantSpec::parse(s.name()), s);
  EXPECT_THROW(QuantSpec::parse("q5"), Error);
  EXPECT_THROW(QuantSpec::parse_group("16"), Error);
  EXPECT_EQ(QuantSpec::from_dtype(DType::Q4_0), (QuantSpec{4, 32}));
  EXPECT_DOUBLE_EQ(weight_bytes(10, 64, std::nullopt), 1280);
  EXPECT_DOUBLE_EQ(weight_bytes(10, 64, QuantSpec{8, 0}), 10 * (64 + 4));
  EXPECT_DOUBLE_EQ(weight_bytes(10, 64, QuantSpec{4, 32}), 10 * (32 + 4));  // ggml Q4_0
  EXPECT_DOUBLE_EQ(weight_bytes(10, 48, QuantSpec{4, 64}), 10 * (24 + 2));
}

}  // namespace
}  // namespace kllens
