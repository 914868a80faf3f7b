// kllens tokenize MODEL --text FILE [--decode]: text → JSON array of ids, or back.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common.h"
#include "kllens/error.h"

namespace kllens::cli {

void register_tokenize(CLI::App& app) {
  struct Args { std::string model, text; bool decode = false; };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text file as JSON (or decode ids)");
  cmd->add_option("MODEL", a->model, "Hugging Face model folder (its tokenizer.json)")->required();
  cmd->add_option("--text", a->text, "Text file (with --decode: a file of token ids)")->required();
  cmd->add_flag("--decode", a->decode, "Read token ids and print the text");
  cmd->callback([a] {
    auto tok = load_tokenizer(a->model);
    if (a->decode) {
      int64_t batch = 1;
      const std::vector<int32_t> ids = read_ids_file(a->text, batch);
      for (int32_t id : ids)
        if (id >= tok->vocab_size())
          fail("{}: token id {} outside the vocabulary [0, {})", a->text, id, tok->vocab_size());
      fmt::print("{}", tok->decode(ids));
    } else {
      fmt::print("[{}]\n", fmt::join(tok->encode(read_text(a->text)), ","));
    }
  });
}

}  // namespace kllens::cli
