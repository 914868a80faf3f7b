// kllens rank DIR: Kendall τ-a, τ-b and Spearman ρ (with p-values) of every metric of
// DIR/sensitivity.json against perplexity, per bit width; prints the table, writes
// DIR/rank.json.
#include <fmt/format.h>

#include "kllens/io.h"
#include "lens_cli.h"

namespace kllens::cli {

void register_rank(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("rank", "Rank agreement of each metric with perplexity (Kendall, Spearman)");
  cmd->add_option("DIR", *dir, "Folder holding sensitivity.json")->required();
  cmd->callback([dir] {
    const auto tables = rank_report(SensitivityReport::load(*dir));
    fmt::print("{}", rank_text(tables));
    write_file_atomic(*dir + "/rank.json", rank_json(tables).dump(2) + "\n");
    fmt::print("wrote {}/rank.json\n", *dir);
  });
}

}  // namespace kllens::cli
