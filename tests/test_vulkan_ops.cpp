// Vulkan backend against the CPU reference backend, op by op, with the Khronos validation
// layer (and synchronisation validation) on: any validation message fails the test.
//
// Each case uploads the same random inputs (fixed seeds, values in the op's real domain)
// to both backends, runs the op, and compares outputs by NMSE. Strided views are column
// slices of wider parents; the whole parent is compared, so writes outside a view (into
// the guard columns around it) are caught too.
//
// Bounds: 1e-7 NMSE everywhere. Both sides compute in fp32 and F16/BF16 weights convert
// exactly to fp32 on both; what differs is only the order of fp32 sums (GPU tree / tile
// reductions vs the CPU's sequential or 8-lane sums) and the libm vs GLSL exp/log (a few
// ulp), which gives relative errors ~1e-6 at most and NMSE ≲ 1e-11 on these sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kllens/backend.h"
#include "kllens/error.h"
#include "kllens/vulkan.h"
#include "support/compare.h"
#include "support/vulkan_pair.h"

namespace kllens {
namespace {

using namespace ::kllens::test;
constexpr double kNmse = kVulkanVsCpuNmse;

// ---- runtime -----------------------------------------------------------------------------

TEST(VulkanRuntime, ListsDevicesAndPicksOne) {
  REQUIRE_VULKAN();
  const auto devs = list_vulkan_devices();
  ASSERT_FALSE(devs.empty());
  for (const auto& d : devs) std::printf("  %s\n", d.c_str());
  EXPECT_NE(vulkan()->name().find("vulkan"), std::string::npos);
}

TEST(VulkanRuntime, UploadDownloadFillStrided) {
  REQUIRE_VULKAN();
  Pair p = random_pair(DType::F32, {5, 7}, 1, 3, 2);
  EXPECT_TRUE(same(p));
  std::vector<float> view = fetch(*vulkan(), p.v), ref = fetch(cpu(), p.c);
  EXPECT_EQ(view, ref);
  cpu().fill_zero(p.c);
  vulkan()->fill_zero(p.v);
  EXPECT_TRUE(same(p));
  // Odd-sized F16 and contiguous fills.
  Tensor h = vulkan()->alloc(DType::F16, {6});
  vulkan()->fill_zero(h);
  std::vector<uint16_t> hv(6, 1);
  vulkan()->download(h, hv.data());
  EXPECT_EQ(hv, std::vector<uint16_t>(6, 0));
  EXPECT_EQ(vulkan_validation_messages(*vulkan()), 0);
}

// ---- embed -----------------------------------------------------------------------------------

void check_embed(DType t, int64_t V, int64_t H, std::vector<float> ids, int64_t pad, uint32_t seed) {
  const Pair table = random_pair(t, {V, H}, seed);
  const Pair id = make_pair(DType::I32, {int64_t(ids.size())}, ids);
  Pair out = random_pair(DType::F32, {int64_t(ids.size()), H}, seed + 1, pad, pad ? 1 : 0);
  cpu().embed(Weight{table.c}, id.c, out.c);
  vulkan()->embed(Weight{table.v}, id.v, out.v);
  EXPECT_TRUE(same(out)) << dtype_name(t) << " V=" << V << " H=" << H;
}

TEST(VulkanOps, Embed) {
  REQUIRE_VULKAN();
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    check_embed(t, 50, 37, {0, 49, 3, 3, 17, 1, 48}, 0, 10);
    check_embed(t, 50, 37, {5}, 4, 11);
    check_embed(t, 300, 768, {299, 0, 150, 7, 8}, 2, 12);
  }
}

TEST(VulkanOps, EmbedTableLargerThanOneBinding) {
  REQUIRE_VULKAN();
  // mamba-130m's F32 embedding, 154 MB: beyond lavapipe's 128 MiB maxStorageBufferRange.
  check_embed(DType::F32, 50280, 768, {0, 50279, 25000, 43690, 43691, 1, 30000}, 0, 13);
}

// ---- rms_norm / add_rms_norm -------------------------------------------------------------

TEST(VulkanOps, RmsNorm) {
  REQUIRE_VULKAN();
  struct S { int64_t n, H, pad; };
  for (S s : {S{1, 768, 0}, S{5, 37, 3}, S{33, 1000, 0}, S{7, 1536, 5}, S{2, 1, 0}}) {
    const uint32_t seed = uint32_t(s.n * 1000 + s.H);
    const Pair x = random_pair(DType::F32, {s.n, s.H}, seed, s.pad, s.pad / 2);
    const Pair w = random_pair(DType::F32, {s.H}, seed + 1, 0, 0, 0.5f, 1.5f);
    Pair out = random_pair(DType::F32, {s.n, s.H}, seed + 2, s.pad, s.pad ? 1 : 0);
    cpu().rms_norm(x.c, w.c, 1e-5f, out.c);
    vulkan()->rms_norm(x.v, w.v, 1e-5f, out.v);
    EXPECT_TRUE(same(out)) << "n=" << s.n << " H=" << s.H;
  }
}

TEST(VulkanOps, AddRmsNorm) {
  REQUIRE_VULKAN();
  struct S { int64_t n, H, pad; };
  for (S s : {S{1, 768, 0}, S{5, 37, 2}, S{65, 768, 0}, S{3, 129, 7}}) {
    const uint32_t seed = uint32_t(s.n * 7 + s.H);
    Pair res = random_pair(DType::F32, {s.n, s.H}, seed, s.pad, s.pad / 2);
    const Pair d = random_pair(DType::F32, {s.n, s.H}, seed + 1, s.pad, 0);
    const Pair w = random_pair(DType::F32, {s.H}, seed + 2, 0, 0, 0.5f, 1.5f);
    Pair out = random_pair(DType::F32, {s.n, s.H}, seed + 3);
    for (int rep = 0; rep < 2; ++rep) {  // twice: the residual update must chain
      cpu().add_rms_norm(res.c, d.c, w.c, 1e-5f, out.c);
      vulkan()->add_rms_norm(res.v, d.v, w.v, 1e-5f, out.v);
    }
    EXPECT_TRUE(same(out)) << "out n=" << s.n << " H=" << s.H;
    EXPECT_TRUE(same(res)) << "residual n=" << s.n << " H=" << s.H;
  }
}

// ---- matmul --------------------------------------------------------------------------------

struct MatmulCase { int64_t n, K, N; bool bias; int64_t xpad, opad; };

void check_matmul(DType t, const MatmulCase& m) {
  const uint32_t seed = uint32_t(m.n * 31 + m.K * 7 + m.N + int(t));
  const Pair x = random_pair(DType::F32, {m.n, m.K}, seed, m.xpad, m.xpad ? 1 : 0);
  const Pair w = random_pair(t, {m.N, m.K}, seed + 1);
  const Pair b = random_pair(DType::F32, {m.N}, seed + 2);
  Pair out = random_pair(DType::F32, {m.n, m.N}, seed + 3, m.opad, m.opad);
  Weight wc{w.c, {}, m.bias ? b.c : Tensor{}}, wv{w.v, {}, m.bias ? b.v : Tensor{}};
  cpu().matmul(x.c, wc, out.c);
  vulkan()->matmul(x.v, wv, out.v);
  EXPECT_TRUE(same(out)) << dtype_name(t) << " n=" << m.n << " K=" << m.K << " N=" << m.N;
}

const MatmulCase kMatmulCases[] = {
    {1, 768, 3072, false, 0, 0},   // mamba-130m in_proj, decode
    {1, 1536, 80, false, 3, 0},    // x_proj, decode, strided x
    {1, 48, 1536, true, 32, 0},    // dt_proj: x is a slice of x_proj's output
    {1, 128, 4096, false, 0, 0},   // a small lm_head
    {3, 37, 29, true, 0, 2},       // GEMV with several rows, odd sizes
    {7, 37, 29, true, 1, 3},       // GEMM, odd sizes, strided in and out
    {33, 1536, 80, false, 32, 0},  // x_proj prefill, strided x
    {40, 768, 3072, false, 0, 0},  // in_proj prefill
    {17, 48, 1536, true, 32, 0},   // dt_proj prefill
    {5, 128, 4096, false, 0, 1},   // lm_head prefill
    {64, 1, 5, true, 0, 0},        // K = 1
};

TEST(VulkanOps, MatmulF32) {
  REQUIRE_VULKAN();
  for (const auto& m : kMatmulCases) check_matmul(DType::F32, m);
}
TEST(VulkanOps, MatmulF16) {
  REQUIRE_VULKAN();
  for (const auto& m : kMatmulCases) check_matmul(DType::F16, m);
}
TEST(VulkanOps, MatmulBF16) {
  REQUIRE_VULKAN();
  for (const auto& m : kMatmulCases) check_matmul(DType::BF16, m);
}

TEST(VulkanOps, MatmulOutputLargerThanOneBinding) {
  REQUIRE_VULKAN();
  // A prefill's lm_head output: 680 × 50280 F32 with a strided row (137 MB) is beyond
  // lavapipe's 128 MiB maxStorageBufferRange, so the launcher splits it into blocks of rows.
  check_matmul(DType::F16, {680, 4, 50280, true, 3, 100});
}

// Random quantised rows in the layouts of include/kllens/dtype.h (valid f16 block scales,
// unused tail slots zero).
std::vector<uint8_t> random_quant(DType t, int64_t N, int64_t K, uint32_t seed) {
  const size_t rb = dtype_row_bytes(t, K);
  std::vector<uint8_t> out(size_t(N) * rb, 0);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  for (int64_t j = 0; j < N; ++j) {
    uint8_t* r = &out[size_t(j) * rb];
    if (t == DType::Q8_C) {
      for (int64_t k = 0; k < K; ++k) r[k] = uint8_t(byte(rng));
    } else if (t == DType::Q4_C) {
      for (int64_t k = 0; k < (K + 1) / 2; ++k) r[k] = uint8_t(byte(rng));
    } else {
      const size_t bs = t == DType::Q8_0 ? 34 : 18;
      for (int64_t b = 0; b < (K + 31) / 32; ++b) {
        uint8_t* blk = r + size_t(b) * bs;
        const uint16_t d = f32_to_f16(scale(rng));
        std::memcpy(blk, &d, 2);
        const int64_t n = std::min<int64_t>(32, K - b * 32);
        if (t == DType::Q8_0)
          for (int64_t e = 0; e < n; ++e) blk[2 + e] = uint8_t(byte(rng));
        else
          for (int64_t e = 0; e < n; ++e)
            blk[2 + e % 16] |= uint8_t((byte(rng) & 0xf) << (e < 16 ? 0 : 4));
      }
    }
  }
  return out;
}

void check_quant_matmul(DType t, const MatmulCase& m) {
  const uint32_t seed = uint32_t(m.n * 31 + m.K * 7 + m.N + 100 * int(t));
  const Pair x = random_pair(DType::F32, {m.n, m.K}, seed, m.xpad, m.xpad ? 1 : 0);
  const auto bytes = random_quant(t, m.N, m.K, seed + 1);
  Tensor wc = cpu().alloc(t, {m.N, m.K}), wv = vulkan()->alloc(t, {m.N, m.K});
  cpu().upload(wc, bytes.data());
  vulkan()->upload(wv, bytes.data());
  const Pair sc = random_pair(DType::F32, {m.N}, seed + 2, 0, 0, 0.001f, 0.02f);
  const bool per_row = t == DType::Q8_C || t == DType::Q4_C;
  const Pair b = random_pair(DType::F32, {m.N}, seed + 3);
  Pair out = random_pair(DType::F32, {m.n, m.N}, seed + 4, m.opad, m.opad);
  cpu().matmul(x.c, Weight{wc, per_row ? sc.c : Tensor{}, m.bias ? b.c : Tensor{}}, out.c);
  vulkan()->matmul(x.v, Weight{wv, per_row ? sc.v : Tensor{}, m.bias ? b.v : Tensor{}}, out.v);
  EXPECT_TRUE(same(out)) << dtype_name(t) << " n=" << m.n << " K=" << m.K << " N=" << m.N;
}

// Both sides dequantise each element to the same fp32 value (scale · q rounded once), so
// only the fp32 summation order differs: the 1e-7 bound still applies.
TEST(VulkanOps, MatmulQuantised) {
  REQUIRE_VULKAN();
  for (DType t : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0})
    for (const auto& m : kMatmulCases) check_quant_matmul(t, m);
}

// A quantised (tied) embedding: each gathered element is scale · q rounded once on both
// sides, so the rows must match bit for bit.
void check_quant_embed(DType t, int64_t V, int64_t H, std::vector<float> ids, int64_t pad, uint32_t seed) {
  const auto bytes = random_quant(t, V, H, seed);
  Tensor wc = cpu().alloc(t, {V, H}), wv = vulkan()->alloc(t, {V, H});
  cpu().upload(wc, bytes.data());
  vulkan()->upload(wv, bytes.data());
  const Pair sc = random_pair(DType::F32, {V}, seed + 2, 0, 0, 0.001f, 0.02f);
  const bool per_row = t == DType::Q8_C || t == DType::Q4_C;
  const Pair id = make_pair(DType::I32, {int64_t(ids.size())}, ids);
  Pair out = random_pair(DType::F32, {int64_t(ids.size()), H}, seed + 1, pad, pad ? 1 : 0);
  cpu().embed(Weight{wc, per_row ? sc.c : Tensor{}}, id.c, out.c);
  vulkan()->embed(Weight{wv, per_row ? sc.v : Tensor{}}, id.v, out.v);
  EXPECT_EQ(fetch(cpu(), out.c), fetch(*vulkan(), out.v)) << dtype_name(t) << " V=" << V << " H=" << H;
}

TEST(VulkanOps, EmbedQuantised) {
  REQUIRE_VULKAN();
  for (DType t : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0}) {
    check_quant_embed(t, 50, 37, {0, 49, 3, 3, 17, 1, 48}, 0, 20);
    check_quant_embed(t, 50, 48, {5}, 4, 21);  // a 16-element tail group
    check_quant_embed(t, 300, 768, {299, 0, 150, 7, 8}, 2, 22);
  }
  EXPECT_EQ(vulkan_validation_messages(*vulkan()), 0);
}

TEST(VulkanOps, MatmulWeightLargerThanOneBinding) {
  REQUIRE_VULKAN();
  // The tied lm_head of mamba-130m in F32 (154 MB), decode and a short prefill.
  check_matmul(DType::F32, {1, 768, 50280, false, 0, 0});
  check_matmul(DType::F32, {6, 768, 50280, false, 0, 0});
}

// ---- conv1d_causal -------------------------------------------------------------------------

struct ConvCase { int64_t B, T, C, K; bool bias, silu; int64_t xpad; };

TEST(VulkanOps, Conv1dCausal) {
  REQUIRE_VULKAN();
  const ConvCase cases[] = {
      {1, 1, 1536, 4, true, true, 1536},  // decode step, x = first half of in_proj's output
      {2, 13, 37, 4, true, true, 3},      // batch, odd channels
      {1, 64, 1536, 4, true, true, 1536}, // prefill, real width
      {3, 2, 29, 4, false, false, 0},     // T < K-1: the state keeps some old rows
      {1, 5, 16, 3, true, true, 0},
  };
  for (const auto& s : cases) {
    const uint32_t seed = uint32_t(s.B * 100 + s.T * 10 + s.C);
    const Pair x = random_pair(DType::F32, {s.B * s.T, s.C}, seed, s.xpad, 0);
    const Pair w = random_pair(DType::F32, {s.C, s.K}, seed + 1);
    const Pair b = random_pair(DType::F32, {s.C}, seed + 2);
    Pair st = random_pair(DType::F32, {s.B, s.K - 1, s.C}, seed + 3);
    Pair out = random_pair(DType::F32, {s.B * s.T, s.C}, seed + 4);
    for (int rep = 0; rep < 2; ++rep) {  // twice: the second call continues from the state
      Conv1dArgs c{x.c, w.c, s.bias ? b.c : Tensor{}, st.c, out.c, s.B, s.T, s.silu};
      Conv1dArgs v{x.v, w.v, s.bias ? b.v : Tensor{}, st.v, out.v, s.B, s.T, s.silu};
      cpu().conv1d_causal(c);
      vulkan()->conv1d_causal(v);
    }
    EXPECT_TRUE(same(out)) << "out B=" << s.B << " T=" << s.T << " C=" << s.C;
    EXPECT_TRUE(same(st)) << "state B=" << s.B << " T=" << s.T << " C=" << s.C;
  }
}

// ---- ssm_scan ------------------------------------------------------------------------------

struct ScanCase { int64_t B, T, I, N; bool D, z, softplus; };

TEST(VulkanOps, SsmScan) {
  REQUIRE_VULKAN();
  const ScanCase cases[] = {
      {1, 1, 1536, 16, true, true, true},   // mamba-130m decode step
      {1, 64, 1536, 16, true, true, true},  // prefill
      {2, 17, 37, 16, true, true, true},    // batch, odd channels
      {3, 5, 29, 5, false, false, true},    // odd state, no D, no gate
      {1, 9, 40, 8, true, false, false},    // delta used as is
  };
  for (const auto& s : cases) {
    const uint32_t seed = uint32_t(s.B * 1000 + s.T * 10 + s.I + s.N);
    const int64_t rows = s.B * s.T, R = 48, P = R + 2 * s.N;  // x_proj output [rows, R+2N]
    const Pair u = random_pair(DType::F32, {rows, s.I}, seed);
    // Δ pre-softplus around the real models' range, some above the threshold of 20.
    std::vector<float> dv = randu(size_t(rows * s.I), seed + 1, -6.f, 2.f);
    for (size_t i = 0; i < dv.size(); i += 97) dv[i] = 21.f + float(i % 5);
    if (!s.softplus) for (float& v : dv) v = std::abs(v) * 0.05f;
    const Pair delta = make_pair(DType::F32, {rows, s.I}, dv);
    std::vector<float> av = randu(size_t(s.I * s.N), seed + 2, -1.f, 2.5f);
    for (float& v : av) v = -std::exp(v);  // A = -exp(A_log) < 0
    const Pair A = make_pair(DType::F32, {s.I, s.N}, av);
    const Pair xdbc = random_pair(DType::F32, {rows, P}, seed + 3);
    const Pair D = random_pair(DType::F32, {s.I}, seed + 4);
    // z as the second half of an in_proj-like [rows, 2I] output.
    const Pair z = random_pair(DType::F32, {rows, s.I}, seed + 5, s.I, s.I);
    Pair st = random_pair(DType::F32, {s.B, s.I, s.N}, seed + 6);
    Pair out = random_pair(DType::F32, {rows, s.I}, seed + 7, 3, 1);
    for (int rep = 0; rep < 2; ++rep) {
      SsmScanArgs c{u.c, delta.c, A.c, xdbc.c.slice_cols(R, s.N), xdbc.c.slice_cols(R + s.N, s.N),
                    s.D ? D.c : Tensor{}, s.z ? z.c : Tensor{}, st.c, out.c, s.B, s.T, s.softplus};
      SsmScanArgs v{u.v, delta.v, A.v, xdbc.v.slice_cols(R, s.N), xdbc.v.slice_cols(R + s.N, s.N),
                    s.D ? D.v : Tensor{}, s.z ? z.v : Tensor{}, st.v, out.v, s.B, s.T, s.softplus};
      cpu().ssm_scan(c);
      vulkan()->ssm_scan(v);
    }
    EXPECT_TRUE(same(out)) << "out B=" << s.B << " T=" << s.T << " I=" << s.I << " N=" << s.N;
    EXPECT_TRUE(same(st)) << "state B=" << s.B << " T=" << s.T << " I=" << s.I << " N=" << s.N;
  }
}

// ---- add / copy ----------------------------------------------------------------------------

TEST(VulkanOps, AddAndCopy) {
  REQUIRE_VULKAN();
  struct S { int64_t rows, cols, pad; };
  for (S s : {S{1, 768, 0}, S{7, 37, 3}, S{70, 1536, 1536}}) {
    const uint32_t seed = uint32_t(s.rows * 3 + s.cols);
    const Pair a = random_pair(DType::F32, {s.rows, s.cols}, seed, s.pad, 0);
    const Pair b = random_pair(DType::F32, {s.rows, s.cols}, seed + 1, s.pad, s.pad);
    Pair out = random_pair(DType::F32, {s.rows, s.cols}, seed + 2, s.pad ? 2 : 0, 1);
    cpu().add(a.c, b.c, out.c);
    vulkan()->add(a.v, b.v, out.v);
    EXPECT_TRUE(same(out)) << "add " << s.rows << "x" << s.cols;
    Pair dst = random_pair(DType::F32, {s.rows, s.cols}, seed + 3, 5, 4);
    cpu().copy(a.c, dst.c);
    vulkan()->copy(a.v, dst.v);
    EXPECT_TRUE(same(dst)) << "copy " << s.rows << "x" << s.cols;
  }
}

// ---- a chain of ops in one submission ---------------------------------------------------------

TEST(VulkanOps, ChainedOpsNeedOnlyOneSync) {
  REQUIRE_VULKAN();
  // in_proj -> conv -> x_proj -> dt_proj -> scan -> out_proj -> add_rms_norm, as a block.
  const int64_t T = 9, H = 64, I = 128, N = 16, R = 8, K = 4;
  const Pair u = random_pair(DType::F32, {T, H}, 1);
  const Pair win = random_pair(DType::F16, {2 * I, H}, 2);
  const Pair wconv = random_pair(DType::F32, {I, K}, 3);
  const Pair bconv = random_pair(DType::F32, {I}, 4);
  const Pair wx = random_pair(DType::BF16, {R + 2 * N, I}, 5);
  const Pair wdt = random_pair(DType::F32, {I, R}, 6);
  const Pair bdt = random_pair(DType::F32, {I}, 7, 0, 0, -4.f, -2.f);
  std::vector<float> av = randu(size_t(I * N), 8, 0.f, 2.f);
  for (float& v : av) v = -std::exp(v);
  const Pair A = make_pair(DType::F32, {I, N}, av);
  const Pair D = random_pair(DType::F32, {I}, 9);
  const Pair wout = random_pair(DType::F32, {H, I}, 10);
  const Pair wn = random_pair(DType::F32, {H}, 11, 0, 0, 0.5f, 1.5f);
  Pair xz = random_pair(DType::F32, {T, 2 * I}, 12), xc = random_pair(DType::F32, {T, I}, 13);
  Pair xdbc = random_pair(DType::F32, {T, R + 2 * N}, 14), dt = random_pair(DType::F32, {T, I}, 15);
  Pair y = random_pair(DType::F32, {T, I}, 16), o = random_pair(DType::F32, {T, H}, 17);
  Pair cs = random_pair(DType::F32, {1, K - 1, I}, 18), ss = random_pair(DType::F32, {1, I, N}, 19);
  Pair res = random_pair(DType::F32, {T, H}, 20), normed = random_pair(DType::F32, {T, H}, 21);
  auto run = [&](Backend& be, auto pick) {
    be.matmul(pick(u), Weight{pick(win), {}, {}}, pick(xz));
    be.conv1d_causal({pick(xz).slice_cols(0, I), pick(wconv), pick(bconv), pick(cs), pick(xc), 1, T, true});
    be.matmul(pick(xc), Weight{pick(wx), {}, {}}, pick(xdbc));
    be.matmul(pick(xdbc).slice_cols(0, R), Weight{pick(wdt), {}, pick(bdt)}, pick(dt));
    be.ssm_scan({pick(xc), pick(dt), pick(A), pick(xdbc).slice_cols(R, N),
                 pick(xdbc).slice_cols(R + N, N), pick(D), pick(xz).slice_cols(I, I), pick(ss),
                 pick(y), 1, T, true});
    be.matmul(pick(y), Weight{pick(wout), {}, {}}, pick(o));
    be.add_rms_norm(pick(res), pick(o), pick(wn), 1e-5f, pick(normed));
  };
  run(cpu(), [](const Pair& p) { return p.c; });
  run(*vulkan(), [](const Pair& p) { return p.v; });
  EXPECT_TRUE(same(normed));
  EXPECT_TRUE(same(res));
  EXPECT_TRUE(same(ss));
  EXPECT_TRUE(same(cs));
  EXPECT_EQ(vulkan_validation_messages(*vulkan()), 0);
}

// ---- profile mode: per-kernel GPU timestamps -------------------------------------------------

TEST(VulkanRuntime, ProfileReportsEveryKernel) {
  REQUIRE_VULKAN();
  VulkanOptions o;
  o.validation = true;
  o.profile = true;
  std::unique_ptr<Backend> be = make_vulkan_backend(o);
  Tensor x = be->alloc(DType::F32, {1, 64}), w = be->alloc(DType::F32, {48, 64});
  Tensor n = be->alloc(DType::F32, {64}), out = be->alloc(DType::F32, {1, 48});
  be->fill_zero(x);
  be->fill_zero(w);
  be->fill_zero(n);
  be->rms_norm(x, n, 1e-5f, x);
  be->matmul(x, Weight{w, {}, {}}, out);
  be->sync();
  const std::string report = vulkan_profile_report(*be);
  std::printf("%s", report.c_str());
  EXPECT_NE(report.find("matmul_gemv_f32"), std::string::npos);
  EXPECT_NE(report.find("rms_norm"), std::string::npos);
  EXPECT_NE(report.find("fill"), std::string::npos);
  EXPECT_EQ(vulkan_validation_messages(*be), 0);
}

// ---- the staging path (discrete GPUs), forced on the unified-memory device --------------------

TEST(VulkanRuntime, StagedTransfersMatch) {
  REQUIRE_VULKAN();
  setenv("KLLENS_VULKAN_FORCE_STAGING", "1", 1);
  VulkanOptions o;
  o.validation = true;
  std::unique_ptr<Backend> st = make_vulkan_backend(o);
  unsetenv("KLLENS_VULKAN_FORCE_STAGING");
  const std::vector<float> xv = randu(5 * 40, 1), wv = randu(33 * 40, 2);
  Tensor x = st->alloc(DType::F32, {5, 40}), w = st->alloc(DType::F32, {33, 40});
  Tensor out = st->alloc(DType::F32, {5, 35});
  st->upload(x, xv.data());
  st->upload(w, wv.data());
  st->fill_zero(out);
  st->matmul(x, Weight{w, {}, {}}, out.slice_cols(1, 33));
  std::vector<float> got(5 * 33);
  st->download(out.slice_cols(1, 33), got.data());
  // Plain loop reference.
  std::vector<float> ref(5 * 33);
  for (int r = 0; r < 5; ++r)
    for (int j = 0; j < 33; ++j) {
      float acc = 0;
      for (int k = 0; k < 40; ++k) acc += xv[size_t(r * 40 + k)] * wv[size_t(j * 40 + k)];
      ref[size_t(r * 33 + j)] = acc;
    }
  EXPECT_TRUE(close(ref, got, {5, 33}, kNmse));
  st->sync();
  EXPECT_EQ(vulkan_validation_messages(*st), 0);
}

}  // namespace
}  // namespace kllens
