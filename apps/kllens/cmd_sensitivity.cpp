// kllens sensitivity MODEL (--calib FILE | --calib-ids FILE) -o DIR [--samples 64 --seqlen 512
//   --seed S --bits 4,8 --group channel|32|64|128 --layers REGEX --ppl-text FILE
//   --ppl-tokens N --ppl-ctx N --resume --no-prefix-reuse --include-head --backend]
// The per-layer sweep of the KL lens (include/kllens/lens.h); writes DIR/sensitivity.json,
// DIR/sensitivity.csv and one file per finished probe in DIR/probes/.
#include <fmt/format.h>

#include "kllens/error.h"
#include "lens_cli.h"

namespace kllens::cli {

void register_sensitivity(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto* cmd = app.add_subcommand("sensitivity", "Per-layer quantisation sensitivity sweep (KL lens)");
  add_sweep_options(cmd, *a, true);
  cmd->callback([a] {
    auto be = a->backend.make();
    SensitivityReport r;
    if (!run_sweep(*a, *be, r))
      fail("stopped after {} new probes (--max-probes); run again with --resume to finish",
           a->max_probes);
    double secs = 0;
    for (const Probe& p : r.probes) secs += p.resumed ? 0 : p.seconds;
    fmt::print("{} probes ({} layers × {} bit widths) over {} windows of {} tokens on {}: {} in probes\n",
               r.probes.size(), r.layers.size(), r.bits.size(), r.windows, r.seqlen, be->name(),
               format_duration(secs));
    fmt::print("wrote {}/sensitivity.json and {}/sensitivity.csv\n", a->out, a->out);
  });
}

}  // namespace kllens::cli
