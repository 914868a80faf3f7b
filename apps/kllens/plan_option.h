// --plan plan.json on the commands that run a model (logits, perplexity, generate, bench):
// the plan is applied for good right after loading (deploy_plan, kllens/lens.h), so the
// model runs exactly as `kllens quantize MODEL --plan plan.json` would write it.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "kllens/model.h"

namespace kllens::cli {

struct PlanOption {
  std::string path;  // empty: no plan
  void add_to(CLI::App* cmd);
  // Model::load, then the plan if one was given.
  std::unique_ptr<Model> load(const std::string& dir, Backend& backend) const;
};

}  // namespace kllens::cli
