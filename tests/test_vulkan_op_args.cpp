// Bad arguments: every op's checks are one validate() beside its argument struct
// (backend.h, src/core/op_args.h), called by the CPU backend and by the Vulkan launcher,
// so both refuse the same call with the same message — the same check, file and line.
// One case per kind of fault and at least one per op; each call is made on both backends
// with tensors of that backend. The refusals that used to differ are here too: ssm_scan
// with T = 0 or out aliasing the state, rope with T = 0 or a position 2^24 (each accepted
// by the Vulkan launcher before), rms_norm with a negative eps.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "kllens/backend.h"
#include "kllens/error.h"
#include "support/vulkan_pair.h"

namespace kllens {
namespace {

using namespace ::kllens::test;

// A zero-filled tensor of `be`.
Tensor zeros(Backend& be, DType t, const Shape& s) {
  Tensor x = be.alloc(t, s);
  be.fill_zero(x);
  return x;
}
Tensor f32(Backend& be, const Shape& s) { return zeros(be, DType::F32, s); }
Tensor i32(Backend& be, const Shape& s) { return zeros(be, DType::I32, s); }

// Mamba-1 scan arguments that pass (T = 3, I = 8, N = 4), for the cases to spoil.
SsmScanArgs good_ssm_scan(Backend& be) {
  const int64_t T = 3, I = 8, N = 4;
  SsmScanArgs a;
  a.u = f32(be, {T, I});
  a.delta = f32(be, {T, I});
  a.A = f32(be, {I, N});
  a.B = f32(be, {T, N});
  a.C = f32(be, {T, N});
  a.state = f32(be, {1, I, N});
  a.out = f32(be, {T, I});
  a.seqlen = T;
  return a;
}

struct BadCall {
  const char* name;
  std::function<void(Backend&)> call;
};

std::vector<BadCall> bad_calls() {
  return {
      {"embed_out_columns", [](Backend& be) { be.embed(Weight{f32(be, {10, 8}), {}, {}}, i32(be, {3}), f32(be, {3, 7})); }},
      {"embed_ids_not_i32", [](Backend& be) { be.embed(Weight{f32(be, {10, 8}), {}, {}}, f32(be, {3}), f32(be, {3, 8})); }},
      {"embed_q8c_without_scale",
       [](Backend& be) { be.embed(Weight{be.alloc(DType::Q8_C, {10, 32}), {}, {}}, i32(be, {2}), f32(be, {2, 32})); }},
      {"rms_norm_weight_length", [](Backend& be) { be.rms_norm(f32(be, {2, 8}), f32(be, {7}), 1e-5f, f32(be, {2, 8})); }},
      {"rms_norm_negative_eps", [](Backend& be) { be.rms_norm(f32(be, {2, 8}), f32(be, {8}), -1.f, f32(be, {2, 8})); }},
      {"rms_norm_out_shifted_over_x",
       [](Backend& be) {
         const Tensor x = f32(be, {3, 8});
         be.rms_norm(x.slice_rows(0, 2), f32(be, {8}), 1e-5f, x.slice_rows(1, 2));
       }},
      {"add_rms_norm_delta_shape",
       [](Backend& be) { be.add_rms_norm(f32(be, {2, 8}), f32(be, {3, 8}), f32(be, {8}), 1e-5f, f32(be, {2, 8})); }},
      {"matmul_inner_dimension", [](Backend& be) { be.matmul(f32(be, {2, 9}), Weight{f32(be, {4, 8}), {}, {}}, f32(be, {2, 4})); }},
      {"matmul_out_overlaps_x",
       [](Backend& be) {
         const Tensor x = f32(be, {2, 8});
         be.matmul(x, Weight{f32(be, {8, 8}), {}, {}}, x);
       }},
      {"matmul_bias_length", [](Backend& be) { be.matmul(f32(be, {2, 8}), Weight{f32(be, {4, 8}), {}, f32(be, {5})}, f32(be, {2, 4})); }},
      {"matmul_scale_on_f32_weight",
       [](Backend& be) { be.matmul(f32(be, {2, 8}), Weight{f32(be, {4, 8}), f32(be, {4}), {}}, f32(be, {2, 4})); }},
      {"matmul_fast_mode_inner_dimension",  // the q8act kernel on Vulkan, the same check
       [](Backend& be) {
         be.set_matmul_mode(MatmulMode::fast);
         struct Reset {
           Backend& be;
           ~Reset() { be.set_matmul_mode(MatmulMode::exact); }
         } reset{be};
         be.matmul(f32(be, {2, 40}), Weight{be.alloc(DType::Q8_0, {4, 32}), {}, {}}, f32(be, {2, 4}));
       }},
      {"add_shape", [](Backend& be) { be.add(f32(be, {2, 8}), f32(be, {2, 7}), f32(be, {2, 8})); }},
      {"copy_dtype", [](Backend& be) { be.copy(f32(be, {2, 8}), i32(be, {2, 8})); }},
      {"copy_shape", [](Backend& be) { be.copy(f32(be, {2, 8}), f32(be, {3, 8})); }},
      {"rms_norm_gated_group",
       [](Backend& be) { be.rms_norm_gated(f32(be, {2, 12}), f32(be, {2, 12}), f32(be, {12}), 5, 1e-5f, f32(be, {2, 12})); }},
      {"rms_norm_gated_z_shape",
       [](Backend& be) { be.rms_norm_gated(f32(be, {2, 12}), f32(be, {2, 8}), f32(be, {12}), 4, 1e-5f, f32(be, {2, 12})); }},
      {"rope_no_tokens", [](Backend& be) { be.rope(f32(be, {1, 8}), f32(be, {4}), 1, 0, 0, 1, 8); }},
      {"rope_odd_head_dim", [](Backend& be) { be.rope(f32(be, {2, 7}), f32(be, {3}), 1, 2, 0, 1, 7); }},
      {"rope_position_2_24", [](Backend& be) { be.rope(f32(be, {1, 8}), f32(be, {4}), 1, 1, int64_t(1) << 24, 1, 8); }},
      {"silu_mul_up_shape", [](Backend& be) { be.silu_mul(f32(be, {2, 8}), f32(be, {2, 9}), f32(be, {2, 8})); }},
      {"kl_reduce_targets_not_i32",
       [](Backend& be) { be.kl_reduce(f32(be, {2, 16}), f32(be, {2, 16}), f32(be, {2}), f32(be, {2, kKlStats})); }},
      {"kl_reduce_out_columns",
       [](Backend& be) { be.kl_reduce(f32(be, {2, 16}), f32(be, {2, 16}), i32(be, {2}), f32(be, {2, 4})); }},
      {"argmax_out_not_i32", [](Backend& be) { be.argmax(f32(be, {2, 16}), f32(be, {2})); }},
      {"topk_k_above_vocabulary", [](Backend& be) { be.topk(f32(be, {2, 4}), f32(be, {2, 5}), i32(be, {2, 5})); }},
      {"topk_indices_count", [](Backend& be) { be.topk(f32(be, {2, 16}), f32(be, {2, 3}), i32(be, {2, 2})); }},
      {"ssm_scan_no_tokens",
       [](Backend& be) {
         SsmScanArgs a = good_ssm_scan(be);
         a.seqlen = 0;
         a.u = a.u.slice_rows(0, 0), a.delta = a.delta.slice_rows(0, 0), a.B = a.B.slice_rows(0, 0);
         a.C = a.C.slice_rows(0, 0), a.out = a.out.slice_rows(0, 0);
         be.ssm_scan(a);
       }},
      {"ssm_scan_out_is_the_state",
       [](Backend& be) {
         SsmScanArgs a = good_ssm_scan(be);
         a.out = a.state.reshape({8 * 4}).slice_elems(0, 3 * 8).reshape({3, 8});
         be.ssm_scan(a);
       }},
      {"conv1d_out_overlaps_state",
       [](Backend& be) {
         const Tensor state = f32(be, {1, 3, 8});
         be.conv1d_causal({f32(be, {3, 8}), f32(be, {8, 4}), {}, state, state.reshape({3, 8}), 1, 3, true});
       }},
      {"ssd_scan_heads_not_a_multiple_of_groups",
       [](Backend& be) {
         SsdScanArgs a;
         a.heads = 3, a.head_dim = 2, a.groups = 2, a.state_size = 4, a.seqlen = 2;
         a.x = f32(be, {2, 6}), a.dt = f32(be, {2, 3}), a.dt_bias = f32(be, {3}), a.A = f32(be, {3});
         a.B = f32(be, {2, 8}), a.C = f32(be, {2, 8}), a.state = f32(be, {1, 3, 2, 4}), a.out = f32(be, {2, 6});
         be.ssd_scan(a);
       }},
      {"attention_heads_not_a_multiple_of_kv_heads",
       [](Backend& be) {
         AttentionArgs a;
         a.heads = 3, a.kv_heads = 2, a.head_dim = 4, a.v_head_dim = 4, a.seqlen = 2;
         a.q = f32(be, {2, 12}), a.k_cache = f32(be, {1, 4, 8}), a.v_cache = f32(be, {1, 4, 8}), a.out = f32(be, {2, 12});
         be.attention(a);
       }},
  };
}

class BadArguments : public ::testing::TestWithParam<size_t> {};

TEST_P(BadArguments, BothBackendsRefuseWithTheSameMessage) {
  REQUIRE_VULKAN();
  const BadCall c = bad_calls()[GetParam()];
  std::vector<std::string> refused;
  for (Backend* be : {&cpu(), vulkan()}) {
    try {
      c.call(*be);
      be->sync();
      ADD_FAILURE() << be->name() << " accepted " << c.name;
      refused.emplace_back();
    } catch (const Error& e) {
      refused.emplace_back(e.what());
    }
  }
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0], refused[1]) << c.name;
  // From the op's one validate(), not a check of either backend.
  EXPECT_NE(refused[0].find("op_args.cpp:"), std::string::npos) << refused[0];
  vulkan()->sync();
}

INSTANTIATE_TEST_SUITE_P(Ops, BadArguments, ::testing::Range<size_t>(0, bad_calls().size()),
                         [](const ::testing::TestParamInfo<size_t>& p) { return bad_calls()[p.param].name; });

}  // namespace
}  // namespace kllens
