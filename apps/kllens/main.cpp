// kllens command line: one subcommand per file (cmd_<name>.cpp), registered here.
// Errors surface as one line "kllens: <message>" and a non-zero exit status, option
// errors from CLI11 included.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <new>
#include <string>

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
  cli::register_robustness(app);
  cli::register_check_kernels(app);
  cli::register_quantize(app);
  cli::refuse_non_finite_numbers(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own report spans lines and adds a help hint; ours is the one kllens: line.
    std::fprintf(stderr, "kllens: %s\n", cli::one_line(e.what()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    // A last resort: every size from a file or an option is validated before memory is
    // reserved, so reaching this is a bug to report.
    std::fprintf(stderr, "kllens: out of memory (please report the command that did this)\n");
    return 1;
  } catch (const std::exception& e) {
    // A last bound on the line: every message already quotes only excerpts of input.
    std::string line = cli::one_line(e.what());
    if (line.size() > 2000) line = line.substr(0, 2000) + "...";
    std::fprintf(stderr, "kllens: %s\n", line.c_str());
    return 1;
  }
  return 0;
}
