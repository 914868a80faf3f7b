// The per-file case lists behind check::all_cases().
#pragma once

#include <vector>

#include "kllens/check.h"

namespace kllens::check {

std::vector<OpCase> mamba_cases();   // embed, norms, matmul, conv1d, ssm_scan, add, copy
std::vector<OpCase> hybrid_cases();  // ssd_scan, rms_norm_gated, rope, attention, silu_mul
std::vector<OpCase> lens_cases();    // kl_reduce, argmax, topk, quantize_weight

}  // namespace kllens::check
