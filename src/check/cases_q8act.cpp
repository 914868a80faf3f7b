// Checker cases of matmul_q8act: matmul in MatmulMode::fast (src/cpu/matmul_q8act.h) for
// every integer weight layout (per channel and 32-blocks, INT8 and INT4), rows of 48
// (a 32-block and a 16-long tail), GEMV and GEMM shapes. Each launch sets the backend's
// mode to fast and restores it.
//
// Bound: the integer block products are exact on every tier, so outputs differ only by
// the order in which the ≤ 128 per-block fp32 terms are summed: NMSE ~ nb · 2^-48 < 1e-13;
// 1e-12 is matmul_q8act.h's stated bound. (Exact vs fast differs by ~1e-5: a backend
// that ignored the mode would fail by 7 orders of magnitude.)
//
// "imported" cases hand the weight to the backend through import_host, as a model's
// weights arrive: the CPU backend then runs its GEMV and GEMM on the packed copy
// (src/cpu/matmul_q8act_pack.h), which it makes only for such immutable weights.
#include <fmt/format.h>

#include "check/cases.h"

namespace kllens::check {

namespace {

bool per_row_scale(DType t) { return t == DType::Q8_C || t == DType::Q4_C; }

OpCase q8act_case(DType t, int64_t n, int64_t N, int64_t K, bool bias, int64_t guard,
                  const char* what, bool imported = false) {
  OpCase c{"matmul_q8act", fmt::format("{} n={} N={} K={} w={}{}{}{}", what, n, N, K, dtype_name(t),
                                       bias ? " bias" : "", guard ? " strided" : "", imported ? " imported" : ""),
           1e-12, "exact int32 block products on both sides; only the fp32 order of the per-block terms differs"};
  const uint64_t seed = uint64_t(n * 11 + N * 137 + K * 29 + int(t));
  c.tensors.push_back(input("x", DType::F32, {n, K}, uniform(n * K, seed), guard));
  c.tensors.push_back(weight_tensor(t, N, K, seed + 1));
  c.tensors.push_back(per_row_scale(t) ? input("scale", DType::F32, {N}, uniform(N, seed + 2, 0.001f, 0.02f))
                                        : CaseTensor{"scale", DType::F32, {1}, {}, false, 0});
  c.tensors.push_back(bias ? input("bias", DType::F32, {N}, uniform(N, seed + 3))
                           : CaseTensor{"bias", DType::F32, {1}, {}, false, 0});
  c.tensors.push_back(output("out", {n, N}, guard));
  c.flops = 2.0 * double(n * N * K);
  c.bytes = double(N) * double(dtype_row_bytes(t, K)) + 4.0 * double(n * (K + N));
  // The imported weight of the last launch (and the buffer it borrows from): a benchmark's
  // launches reuse it, as decode steps reuse a model's weights.
  auto held = std::make_shared<std::pair<std::shared_ptr<Buffer>, Tensor>>();
  c.launch = [t, bias, imported, held](Backend& be, const std::vector<Tensor>& v) {
    Weight w{v[1], per_row_scale(t) ? v[2] : Tensor{}, bias ? v[3] : Tensor{}};
    if (imported && v[1].buf->host()) {  // device memory (Vulkan) has no host bytes to import
      if (held->first != v[1].buf) *held = {v[1].buf, be.import_host(v[1].buf, v[1].host_ptr(), t, v[1].shape)};
      w.w = held->second;
    }
    const MatmulMode before = be.matmul_mode();
    be.set_matmul_mode(MatmulMode::fast);
    be.matmul(v[0], w, v[4]);
    be.set_matmul_mode(before);
  };
  return c;
}

}  // namespace

std::vector<OpCase> q8act_cases() {
  std::vector<OpCase> cases;
  for (DType t : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0}) {
    cases.push_back(q8act_case(t, 1, 29, 37, false, 0, "odd"));
    cases.push_back(q8act_case(t, 3, 33, 65, true, 3, "odd"));
    cases.push_back(q8act_case(t, 17, 50, 48, true, 2, "tail prefill"));
    cases.push_back(q8act_case(t, 1, 1536, 48, true, 0, "mamba-130m dt_proj"));
    cases.push_back(q8act_case(t, 1, 3072, 768, false, 0, "mamba-130m in_proj"));
    cases.push_back(q8act_case(t, 1, 80, 1536, false, 0, "mamba-130m x_proj"));
    cases.push_back(q8act_case(t, 1, 768, 1536, false, 0, "mamba-130m out_proj"));
    cases.push_back(q8act_case(t, 1, 2048, 4096, false, 0, "mamba-1.4b out_proj"));
    cases.push_back(q8act_case(t, 1, 8192, 2048, false, 0, "mamba-1.4b in_proj"));
    cases.push_back(q8act_case(t, 1, 8960, 1600, false, 0, "hymba-1.5b in_proj"));
    cases.push_back(q8act_case(t, 64, 768, 1536, false, 0, "mamba-130m out_proj prefill"));
    cases.push_back(q8act_case(t, 128, 3072, 768, false, 5, "mamba-130m in_proj prefill"));
    cases.push_back(q8act_case(t, 1, 29, 37, true, 0, "odd", true));
    cases.push_back(q8act_case(t, 3, 33, 65, true, 3, "odd", true));
    cases.push_back(q8act_case(t, 1, 1536, 48, true, 0, "mamba-130m dt_proj", true));
    cases.push_back(q8act_case(t, 1, 3072, 768, false, 0, "mamba-130m in_proj", true));
    cases.push_back(q8act_case(t, 1, 8192, 2048, false, 0, "mamba-1.4b in_proj", true));
    // prefill on the packed copy: one 4-row tile, a 4-row tile and a 1-row tail, a 48-long
    // row (a 16-long last block), a real prefill panel
    cases.push_back(q8act_case(t, 4, 29, 37, true, 0, "gemm", true));
    cases.push_back(q8act_case(t, 5, 33, 65, false, 3, "gemm", true));
    cases.push_back(q8act_case(t, 17, 50, 48, true, 2, "tail prefill", true));
    cases.push_back(q8act_case(t, 128, 3072, 768, false, 5, "mamba-130m in_proj prefill", true));
  }
  // ---- GEMM tiles (vkgemm): Vulkan runs n > 4 rows over 64×64 int8 tiles staged 2 blocks
  // at a time (shaders/matmul_q8act_gemm.comp). The smallest GEMM (n = 5), tiles cut in
  // rows and outputs (67, 130: one and two past a tile), K with an odd block count and a
  // short last block (K = 37, 65, 112: a stage holding one block, a 5- / 1- / 16-long tail).
  for (DType t : {DType::Q8_C, DType::Q4_C, DType::Q8_0, DType::Q4_0}) {
    cases.push_back(q8act_case(t, 5, 65, 33, true, 0, "gemm tiles"));
    cases.push_back(q8act_case(t, 9, 29, 37, false, 1, "gemm tiles"));
    cases.push_back(q8act_case(t, 67, 130, 112, true, 3, "gemm tiles"));
    cases.push_back(q8act_case(t, 70, 70, 65, false, 0, "gemm tiles"));
  }
  return cases;
}

}  // namespace kllens::check
