// --plan plan.json: quantise on load (see plan_option.h).
#include "plan_option.h"

#include "kllens/error.h"
#include "kllens/lens.h"

namespace kllens::cli {

void PlanOption::add_to(CLI::App* cmd) {
  cmd->add_option("--plan", path, "Mixed-precision plan (kllens allocate / lens), applied on load "
                  "as kllens quantize writes it");
}

std::unique_ptr<Model> PlanOption::load(const std::string& dir, Backend& backend) const {
  const Plan plan = path.empty() ? Plan{} : Plan::load(path);  // a bad plan fails before the model loads
  auto model = Model::load(dir, backend);
  if (!path.empty()) {
    try {
      deploy_plan(*model, plan);
    } catch (const Error& e) {
      fail("{}: {}", path, e.what());
    }
  }
  return model;
}

}  // namespace kllens::cli
