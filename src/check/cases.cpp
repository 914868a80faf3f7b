// All checker cases, filtered by op name.
#include "check/cases.h"

namespace kllens::check {

std::vector<OpCase> all_cases(const std::string& op) {
  std::vector<OpCase> all;
  for (auto* list : {&mamba_cases, &hybrid_cases, &lens_cases, &q8act_cases})
    for (OpCase& c : list())
      if (op.empty() || c.op == op) all.push_back(std::move(c));
  return all;
}

}  // namespace kllens::check
