// README's first command, `scripts/demo.sh`, in CI: the demo's own commands run on the
// built-in model with the binary under test (--no-build), and the report and every plot
// it links must exist. The demo once died with status 141 (kllens info piped into head
// under pipefail) and nothing noticed; this is the test that notices. The demo ends with
// the chosen plan's quantised model timed next to F16: both folders and the bench table
// must be there. About two minutes on 2 cores (the lens sweeps 2, 4 and 8 bits).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/cli.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Demo, MainJobWritesTheReportAndItsPlots) {
  const std::string dir = scratch_dir();
  const std::string out = dir + "/lens";
  const std::string cmd = std::string(KLLENS_SOURCE_DIR) + "/scripts/demo.sh --no-build --kllens " +
                          KLLENS_CLI_PATH + " --out " + out + " >" + dir + "/stdout 2>" + dir + "/stderr";
  const int raw = std::system(cmd.c_str());
  const int status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128;
  ASSERT_EQ(status, 0) << slurp(dir + "/stderr") << slurp(dir + "/stdout");

  const std::string stdout_text = slurp(dir + "/stdout");
  EXPECT_NE(stdout_text.find("architecture mamba"), std::string::npos) << stdout_text;
  const std::string report = slurp(out + "/report.md");
  ASSERT_FALSE(report.empty()) << out << "/report.md missing or empty";
  EXPECT_NE(report.find("## Plans, evaluated"), std::string::npos);

  // Every plot the report links exists and is an SVG; there is at least one of each kind.
  const std::regex link(R"(\]\(plots/([^)]+\.svg)\))");
  int scatter = 0, bars = 0, linked = 0;
  for (auto it = std::sregex_iterator(report.begin(), report.end(), link); it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    const std::string svg = slurp(fs::path(out) / "plots" / name);
    EXPECT_NE(svg.find("<svg"), std::string::npos) << name << " missing or not an SVG";
    scatter += name.starts_with("scatter_");
    bars += name.starts_with("bars_");
    ++linked;
  }
  EXPECT_GT(scatter, 0);
  EXPECT_GT(bars, 0);
  int on_disk = 0;
  for (const auto& e : fs::directory_iterator(fs::path(out) / "plots")) on_disk += e.path().extension() == ".svg";
  EXPECT_EQ(on_disk, linked) << "plots on disk that the report does not link, or the reverse";

  for (const char* m : {"model-f16", "model-greedy"})
    EXPECT_NE(slurp(fs::path(out) / m / "config.json").find("\"quant_method\": \"kllens\""), std::string::npos) << m;
  for (const char* row : {"| model-f16 ", "| model-greedy ", "pp256", "tg64", " ± "})
    EXPECT_NE(stdout_text.find(row), std::string::npos) << row << " missing from the bench table:\n" << stdout_text;
}

}  // namespace
}  // namespace kllens::test
