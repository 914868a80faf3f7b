// kllens command line: one subcommand per file (cmd_<name>.cpp), registered here.
// Errors surface as one line "kllens: <message>" and exit status 1.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "common.h"
#include "kllens/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kllens: KL-lens mixed-precision quantisation for SSM and hybrid LMs"};
  app.require_subcommand(1);
  namespace cli = kllens::cli;
  cli::register_info(app);
  cli::register_logits(app);
  cli::register_tokenize(app);
  cli::register_perplexity(app);
  cli::register_generate(app);
  cli::register_synth(app);
  cli::register_bench(app);
  cli::register_sensitivity(app);
  cli::register_rank(app);
  cli::register_allocate(app);
  cli::register_evaluate(app);
  cli::register_lens(app);
  cli::register_merge(app);
  cli::register_check_kernels(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kllens: %s\n", e.what());
    return 1;
  }
  return 0;
}
