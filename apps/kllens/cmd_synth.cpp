// kllens synth --preset NAME -o DIR [--dtype f16|f32|bf16] [--seed S]
// A model with random weights and the exact config and tensor names of a real checkpoint.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common.h"
#include "kllens/synth.h"

namespace kllens::cli {

void register_synth(CLI::App& app) {
  struct Args { std::string preset, dir, dtype = "f16"; uint64_t seed = 0; };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("synth", "Write a random-weight model with a real checkpoint's config and names");
  cmd->add_option("--preset", a->preset, fmt::format("One of: {}", fmt::join(synth_presets(), ", ")))
      ->required()->check(CLI::IsMember(synth_presets()));
  cmd->add_option("-o,--out", a->dir, "Output model folder")->required();
  cmd->add_option("--dtype", a->dtype, "Weight type")->check(CLI::IsMember({"f16", "f32", "bf16"}))->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->callback([a] {
    const DType dt = a->dtype == "f32" ? DType::F32 : a->dtype == "bf16" ? DType::BF16 : DType::F16;
    synth_model(a->preset, a->dir, dt, a->seed);
    fmt::print("wrote {} ({} weights, preset {})\n", a->dir, a->dtype, a->preset);
  });
}

}  // namespace kllens::cli
