// Checker cases of the hybrid ops (filled in as their Vulkan kernels land).
#include "check/cases.h"

namespace kllens::check {

std::vector<OpCase> hybrid_cases() { return {}; }

}  // namespace kllens::check
