// Checker cases of the lens ops (filled in as their Vulkan kernels land).
#include "check/cases.h"

namespace kllens::check {

std::vector<OpCase> lens_cases() { return {}; }

}  // namespace kllens::check
