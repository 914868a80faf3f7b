// kllens merge DIR... -o DIR: joins the shards of a sweep (`kllens sensitivity --shard I/N`,
// each in its own folder) into DIR/sensitivity.json and .csv, byte-identical to the same
// sweep run unsharded on the same backend. Refuses shards of different sweeps or backends,
// overlapping shards, and missing shards or probes (src/lens/shard.cpp).
#include <filesystem>

#include <fmt/format.h>

#include "lens_cli.h"

namespace kllens::cli {

void register_merge(CLI::App& app) {
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("merge", "Join the shards of a sharded sensitivity sweep");
  cmd->add_option("SHARD_DIR", *dirs, "Folders written by kllens sensitivity --shard I/N")->required();
  cmd->add_option("-o,--out", *out, "Output folder")->required();
  cmd->callback([dirs, out] {
    const SensitivityReport r = merge_shards(*dirs);
    std::filesystem::create_directories(*out);
    write_sensitivity(r, *out);
    fmt::print("merged {} shards: {} probes; wrote {}/sensitivity.json and {}/sensitivity.csv\n",
               dirs->size(), r.probes.size(), *out, *out);
  });
}

}  // namespace kllens::cli
