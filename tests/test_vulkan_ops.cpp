// The Vulkan runtime with the Khronos validation layer (and synchronisation validation)
// on: devices, transfers, the bindings check against the SPIR-V, a chain of ops in one
// submission, profiling, the staging path. Any validation message fails the test. The
// ops one by one are tests/test_kernels.cpp (every checker case on every tier).
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
#include "shaders/add.h"
#include "support/compare.h"
#include "support/vulkan_pair.h"
#include "vulkan/pipeline.h"
#include "vulkan/spirv_registry.h"
#include "vulkan/vulkan_backend.h"

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

// ---- bindings: the launcher's statement against the SPIR-V ---------------------------------

// Every binding's access as the SPIR-V declares it (GLSL readonly / writeonly / neither).
TEST(VulkanPipelines, ReflectsEachBindingsAccess) {
  using vk::Access;
  const auto ssm = vk::spirv("ssm_scan");
  const vk::SpirvInterface s = vk::reflect_spirv(ssm.data(), ssm.size());
  const std::vector<Access> want_ssm = {Access::read, Access::read, Access::read, Access::read, Access::read,
                                        Access::read, Access::read, Access::read_write, Access::write};
  EXPECT_EQ(s.access, want_ssm);
  const auto rms = vk::spirv("rms_norm");  // x and out are updated in place (add_rms_norm)
  const vk::SpirvInterface r = vk::reflect_spirv(rms.data(), rms.size());
  const std::vector<Access> want_rms = {Access::read_write, Access::read, Access::read, Access::read_write};
  EXPECT_EQ(r.access, want_rms);
  // The quantiser's two kernels use the scale binding the opposite ways.
  const auto q0 = vk::spirv("quantize_weight_scale"), q1 = vk::spirv("quantize_weight_pack");
  EXPECT_EQ(vk::reflect_spirv(q0.data(), q0.size()).access[1], Access::write);
  EXPECT_EQ(vk::reflect_spirv(q1.data(), q1.size()).access[1], Access::read);
}

// A launcher that states an access its shader does not declare, or a wrong set of
// bindings, fails when the pipeline is made, naming the binding.
TEST(VulkanPipelines, LauncherAccessThatDisagreesWithTheShaderFails) {
  REQUIRE_VULKAN();
  using vk::Access;
  auto& pipes = dynamic_cast<vk::VulkanBackend&>(*vulkan()).pipelines();
  const uint32_t push = sizeof(vk::shader::AddPush);
  const vk::BindingUse right[] = {{ADD_BINDING_A, Access::read}, {ADD_BINDING_B, Access::read},
                                  {ADD_BINDING_OUT, Access::write}};
  EXPECT_NO_THROW(pipes.get("add", right, push, {64}));
  const vk::BindingUse out_read_write[] = {{ADD_BINDING_A, Access::read}, {ADD_BINDING_B, Access::read},
                                           {ADD_BINDING_OUT, Access::read_write}};
  try {
    pipes.get("add", out_read_write, push, {32});
    ADD_FAILURE() << "a read-write statement of a writeonly binding was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("binding 2 writeonly, its launcher uses it as read-write"),
              std::string::npos) << e.what();
  }
  const vk::BindingUse a_written[] = {{ADD_BINDING_A, Access::write}, {ADD_BINDING_B, Access::read},
                                      {ADD_BINDING_OUT, Access::write}};
  EXPECT_THROW(pipes.get("add", a_written, push, {32}), Error);
  const vk::BindingUse twice[] = {{ADD_BINDING_A, Access::read}, {ADD_BINDING_A, Access::read},
                                  {ADD_BINDING_OUT, Access::write}};
  EXPECT_THROW(pipes.get("add", twice, push, {32}), Error);
  EXPECT_THROW(pipes.get("add", std::span(right, 2), push, {32}), Error);  // a binding short
}

// The ops one by one (every shape, dtype and tier) are the cases of check::all_cases(),
// run by tests/test_kernels.cpp; what follows checks what a single case cannot.

// ---- bad arguments: one validate() per op, the same refusals on both backends ----------

TEST(VulkanOps, BothBackendsRefuseTheSameBadArguments) {
  REQUIRE_VULKAN();
  for (Backend* be : {&cpu(), vulkan()}) {
    const int64_t I = 8, N = 4, T = 3;
    SsmScanArgs a;
    a.u = be->alloc(DType::F32, {T, I});
    a.delta = be->alloc(DType::F32, {T, I});
    a.A = be->alloc(DType::F32, {I, N});
    a.B = be->alloc(DType::F32, {T, N});
    a.C = be->alloc(DType::F32, {T, N});
    a.state = be->alloc(DType::F32, {1, I, N});
    a.out = be->alloc(DType::F32, {T, I});
    a.seqlen = T;
    for (const Tensor* t : {&a.u, &a.delta, &a.A, &a.B, &a.C, &a.state, &a.out}) be->fill_zero(*t);
    EXPECT_NO_THROW(be->ssm_scan(a)) << be->name();
    SsmScanArgs no_tokens = a;  // T = 0 (the Vulkan launcher used to accept it)
    no_tokens.seqlen = 0;
    no_tokens.u = a.u.slice_rows(0, 0), no_tokens.delta = a.delta.slice_rows(0, 0);
    no_tokens.B = a.B.slice_rows(0, 0), no_tokens.C = a.C.slice_rows(0, 0), no_tokens.out = a.out.slice_rows(0, 0);
    EXPECT_THROW(be->ssm_scan(no_tokens), Error) << be->name();
    SsmScanArgs out_is_state = a;  // out aliasing the state (the Vulkan launcher used to accept it)
    out_is_state.out = a.state.reshape({I * N}).slice_elems(0, T * I).reshape({T, I});
    EXPECT_THROW(be->ssm_scan(out_is_state), Error) << be->name();
    SsmScanArgs short_B = a;
    short_B.B = a.B.slice_rows(0, 2);
    EXPECT_THROW(be->ssm_scan(short_B), Error) << be->name();
    Conv1dArgs c{a.u, be->alloc(DType::F32, {I, 4}), {}, be->alloc(DType::F32, {1, 3, I}), a.out, 1, T, true};
    c.out = c.state.reshape({3, I});  // out overlapping the state
    EXPECT_THROW(be->conv1d_causal(c), Error) << be->name();
  }
  vulkan()->sync();
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
