// `kllens lens` end to end on the hybrid tiny-hymba: every linear layer of a Hymba block
// (in_proj, x_proj, dt_proj, out_proj and the SwiGLU projections) is probed, and the
// report with its plots is written.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "kllens/io.h"
#include "support/cli.h"
#include "support/compare.h"

namespace kllens::test {
namespace {

TEST(LensHymba, RunsEndToEnd) {
  const std::string out = scratch_dir() + "/lens";
  const CliResult r = run_cli("lens " + shared_path("fixtures/tiny-hymba") + " --calib " +
                              source_path("data/brown-train-sample.txt") + " --eval " +
                              source_path("data/brown-test-sample.txt") + " -o " + out +
                              " --samples 2 --seqlen 64 --eval-tokens 1024");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out + "/report.md"));
  const auto sens = nlohmann::json::parse(read_file(out + "/sensitivity.json"));
  const std::string block = "model.layers.0.";
  for (const char* layer : {"mamba.in_proj", "mamba.x_proj.0", "mamba.dt_proj.0", "mamba.out_proj",
                            "moe.experts.0.gate_proj", "moe.experts.0.up_proj",
                            "moe.experts.0.down_proj"})
    EXPECT_TRUE(sens.dump().find("\"" + block + layer + "\"") != std::string::npos) << layer;
}

}  // namespace
}  // namespace kllens::test
