// kllens sensitivity MODEL (--calib FILE | --calib-ids FILE) -o DIR [--samples 64 --seqlen 512
//   --seed S --bits 4,8 --group channel|32|64|128 --layers REGEX --ppl-text FILE
//   --ppl-tokens N --ppl-ctx N --resume --no-prefix-reuse --include-head --shard I/N --backend]
// The per-layer sweep of the KL lens (include/kllens/lens.h); writes DIR/sensitivity.json,
// DIR/sensitivity.csv and one file per finished probe in DIR/probes/. With --shard I/N it
// runs that shard's probes only and writes DIR/shard.json for `kllens merge`.
#include <map>

#include <fmt/format.h>

#include "kllens/error.h"
#include "lens_cli.h"

namespace kllens::cli {

void register_sensitivity(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto* cmd = app.add_subcommand("sensitivity", "Per-layer quantisation sensitivity sweep (KL lens)");
  add_sweep_options(cmd, *a, true);
  cmd->callback([a] {
    SensitivityReport r;
    bool finished = false;
    // A device fault of the only device left (a worker's own fault on a several-device
    // sweep is handled by the queue) goes on on the CPU, keeping the probes saved so far.
    int attempt = 0;
    run_with_cpu_fallback(sweep_backends(*a)[0], [&](BackendHandle& be) {
      finished = run_sweep(attempt++ == 0 ? *a : after_device_fault(*a), *be, r);
    });
    if (!finished)
      fail("stopped after {} new probes (--max-probes); run again with --resume to finish",
           a->max_probes);
    double secs = 0;
    for (const Probe& p : r.probes) secs += p.resumed ? 0 : p.seconds;
    std::map<std::string, int64_t> by_backend;
    for (const Probe& p : r.probes) ++by_backend[p.backend];
    std::string where;
    for (const auto& [name, n] : by_backend) where += fmt::format("{}{} on {}", where.empty() ? "" : ", ", n, name);
    fmt::print("{} probes ({} layers × {} bit widths) over {} windows of {} tokens ({}): {} in probes\n",
               r.probes.size(), r.layers.size(), r.bits.size(), r.windows, r.seqlen, where,
               format_duration(secs));
    if (a->shard.empty())
      fmt::print("wrote {}/sensitivity.json and {}/sensitivity.csv\n", a->out, a->out);
    else
      fmt::print("wrote {}/shard.json (shard {}; join the shards with kllens merge)\n", a->out, a->shard);
  });
}

}  // namespace kllens::cli
