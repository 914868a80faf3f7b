// kllens command line: one subcommand per file (cmd_<name>.cpp), registered here.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

#include "kllens/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kllens: KL-lens mixed-precision quantisation for SSM and hybrid LMs"};
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kllens::Error& e) {
    std::fprintf(stderr, "kllens: %s\n", e.what());
    return 1;
  }
  return 0;
}
