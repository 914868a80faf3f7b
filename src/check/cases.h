// The per-file case lists behind check::all_cases().
#pragma once

#include <vector>

#include "kllens/check.h"

namespace kllens::check {

std::vector<OpCase> mamba_cases();   // embed, norms, matmul, conv1d, ssm_scan, add, copy
std::vector<OpCase> hybrid_cases();  // ssd_scan, rms_norm_gated, rope, attention, silu_mul
std::vector<OpCase> lens_cases();    // kl_reduce, argmax, topk, quantize_weight
std::vector<OpCase> q8act_cases();   // matmul_q8act (matmul in MatmulMode::fast)

// Random bytes of a weight [N, K] in any storage type (quantised types: valid codes and
// block scales), as the matmul cases draw them (cases_mamba.cpp).
CaseTensor weight_tensor(DType t, int64_t N, int64_t K, uint64_t seed);

}  // namespace kllens::check
