// kl_reduce on the CPU: both tiers against a plain two-pass computation in long double,
// from distributions that are far apart down to INT8-probe-sized perturbations (KL ~1e-9),
// odd vocabularies (the AVX2 tail), strided rows, targets < 0, and ties of the maximum.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cpu/cpu_features.h"
#include "cpu/kl_reduce.h"
#include "kllens/backend.h"
#include "support/kernel_cases.h"

namespace kllens {
namespace {

struct Case { int64_t n, V, pad; float noise; };
// noise: student = teacher + N(0, noise²) per logit; 1e-3 gives KL ~ 1e-7, 3e-5 ~ 1e-10.
const Case kCases[] = {{3, 1, 0, 0.1f},   {4, 3, 1, 0.5f},    {5, 4, 0, 1e-3f}, {7, 7, 2, 3e-5f},
                       {9, 100, 0, 2.0f}, {6, 4096, 3, 1e-3f}, {4, 4096, 0, 3e-5f},
                       {3, 5003, 5, 0.05f}, {2, 50280, 0, 1e-3f}};

using Row = std::array<long double, kKlStats>;

// Two passes per row in long double: log-softmax of both, then the sums of kl_reduce.h.
Row plain(const float* zt, const float* zs, int64_t V, int32_t target) {
  auto lse = [&](const float* z) {
    long double m = z[0], s = 0;
    for (int64_t v = 1; v < V; ++v) m = std::max(m, (long double)z[v]);
    for (int64_t v = 0; v < V; ++v) s += std::exp((long double)z[v] - m);
    return m + std::log(s);
  };
  const long double lt = lse(zt), ls = lse(zs);
  Row r{};
  int64_t at = 0, as = 0;
  for (int64_t v = 0; v < V; ++v) {
    const long double lp = zt[v] - lt, lq = zs[v] - ls;
    r[0] += std::exp(lp) * (lp - lq);
    r[1] += std::exp(lq) * (lq - lp);
    r[4] += ((long double)zs[v] - zt[v]) * ((long double)zs[v] - zt[v]);
    r[5] += (long double)zt[v] * zt[v];
    if (zt[v] > zt[at]) at = v;
    if (zs[v] > zs[as]) as = v;
  }
  r[2] = target >= 0 ? lt - zt[target] : 0;
  r[3] = target >= 0 ? ls - zs[target] : 0;
  r[6] = at == as ? 1 : 0;
  r[7] = r[3] - r[2];
  return r;
}

struct Inputs { Tensor teacher, student, targets, out; };

Inputs make(Backend& be, std::mt19937& rng, const Case& c) {
  Inputs in;
  in.teacher = test::random_f32(be, rng, c.n, c.V, -8.0f, 8.0f, c.pad);
  in.student = test::clone(be, in.teacher);
  std::normal_distribution<float> nd(0.0f, c.noise);
  for (int64_t r = 0; r < c.n; ++r) {
    float* zt = in.teacher.data<float>() + r * in.teacher.row_stride;
    float* zs = in.student.data<float>() + r * in.student.row_stride;
    if (r % 2 == 1 && c.V > 8) zt[c.V / 3] += 15.0f;  // a peaked row
    for (int64_t v = 0; v < c.V; ++v) zs[v] = zt[v] + nd(rng) + (r == 2 ? 0.75f : 0.0f);  // + shift
  }
  in.targets = be.alloc(DType::I32, {c.n});
  for (int64_t r = 0; r < c.n; ++r)
    in.targets.data<int32_t>()[r] = r == c.n - 1 ? -1 : int32_t((r * 7919) % c.V);
  in.out = be.alloc(DType::F32, {c.n, kKlStats});
  return in;
}

// Both tiers work in fp64 throughout and round once to fp32 when storing: every column is
// within a few fp32 ulps (relative 1e-6) of the long double value, plus 1e-13 absolute
// for the fp64 cancellation of E_p[δ] − c around values near 0.
void expect_close(const Inputs& in, const Case& c, const char* tier) {
  for (int64_t r = 0; r < c.n; ++r) {
    const Row want = plain(in.teacher.data<float>() + r * in.teacher.row_stride,
                           in.student.data<float>() + r * in.student.row_stride, c.V,
                           in.targets.data<int32_t>()[r]);
    const float* got = in.out.data<float>() + r * kKlStats;
    for (int k = 0; k < kKlStats; ++k) {
      const double tol = 1e-6 * std::fabs(double(want[size_t(k)])) + 1e-13;
      EXPECT_NEAR(got[k], double(want[size_t(k)]), tol)
          << tier << " n=" << c.n << " V=" << c.V << " noise=" << c.noise << " row " << r
          << " column " << k;
    }
  }
}

TEST(CpuKlReduce, ReferenceMatchesPlainLongDouble) {
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(21);
  for (const Case& c : kCases) {
    Inputs in = make(*be, rng, c);
    cpu::kl_reduce_ref(in.teacher, in.student, in.targets, in.out);
    expect_close(in, c, "ref");
  }
}

TEST(CpuKlReduce, Avx2MatchesPlainLongDouble) {
  if (!cpu::cpu_has_avx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  auto be = make_cpu_backend(best_cpu_tier());
  std::mt19937 rng(21);
  for (const Case& c : kCases) {
    Inputs in = make(*be, rng, c);
    be->kl_reduce(in.teacher, in.student, in.targets, in.out);  // production dispatch
    expect_close(in, c, "avx2");
  }
}

TEST(CpuKlReduce, IdenticalDistributionsAndTiesOfTheMaximum) {
  auto be = make_cpu_backend(best_cpu_tier());
  const int64_t V = 37;
  std::vector<float> t(V, 1.0f), s(V, 1.0f);
  t[5] = t[30] = 4.0f;  // teacher's first maximum: 5
  s[30] = 4.0f;         // student's: 30
  for (bool scalar : {true, false}) {
    if (!scalar && !cpu_tier_supported(CpuTier::avx2)) continue;
    const auto tiered = make_cpu_backend(scalar ? CpuTier::reference : CpuTier::avx2);
    Tensor a = be->alloc(DType::F32, {2, V}), b = be->alloc(DType::F32, {2, V});
    std::memcpy(a.data<float>(), t.data(), V * 4);
    std::memcpy(a.data<float>() + V, t.data(), V * 4);
    std::memcpy(b.data<float>(), t.data(), V * 4);
    std::memcpy(b.data<float>() + V, s.data(), V * 4);
    Tensor tg = be->alloc(DType::I32, {2});
    tg.data<int32_t>()[0] = 5;
    tg.data<int32_t>()[1] = 0;
    Tensor out = be->alloc(DType::F32, {2, kKlStats});
    tiered->kl_reduce(a, b, tg, out);
    const float* o = out.data<float>();
    EXPECT_EQ(o[0], 0.0f) << scalar;  // identical rows: exactly 0 both ways
    EXPECT_EQ(o[1], 0.0f) << scalar;
    EXPECT_EQ(o[2], o[3]) << scalar;
    EXPECT_EQ(o[6], 1.0f) << scalar;
    EXPECT_EQ(o[kKlStats + 6], 0.0f) << scalar;  // argmax 5 vs 30
  }
}

}  // namespace
}  // namespace kllens
