// kllens rank (DIR | --paper BITS=FILE... -o DIR) [--model MODEL]: Kendall τ-a, τ-b and
// Spearman ρ (p-values and bootstrap 95% intervals, the paired τ-b difference of KL against
// every other metric) of every metric against perplexity, per bit width, and the verdict in
// words; prints them and writes rank.json to DIR (or -o). --paper reads results in the
// paper's layout (one file per bit width) and warns about values that are not a KL.
#include <fmt/format.h>

#include <filesystem>

#include "kllens/io.h"
#include "lens_cli.h"

namespace kllens::cli {

void register_rank(CLI::App& app) {
  struct Args {
    std::string dir, out, model;
    std::vector<std::string> paper;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("rank", "Rank agreement of each metric with perplexity (Kendall, Spearman)");
  cmd->add_option("DIR", a->dir, "Folder holding sensitivity.json");
  add_paper_option(cmd, a->paper);
  cmd->add_option("--model", a->model, "--paper: the model folder (for the log V check)");
  cmd->add_option("-o,--out", a->out, "Where rank.json goes (default DIR)");
  cmd->callback([a] {
    const std::string out = a->out.empty() ? a->dir : a->out;
    if (out.empty()) fail("--paper needs -o DIR for rank.json");
    const auto tables = rank_report(load_report(a->dir, a->paper, a->model));
    fmt::print("{}{}", rank_text(tables), rank_verdict(tables, 0));
    std::filesystem::create_directories(out);
    write_file_atomic(out + "/rank.json", rank_json(tables).dump(2) + "\n");
    fmt::print("wrote {}/rank.json\n", out);
  });
}

}  // namespace kllens::cli
