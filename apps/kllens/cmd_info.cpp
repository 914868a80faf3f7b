// kllens info MODEL: architecture, config, tensor table, parameter count and bytes.
#include <fmt/format.h>

#include "common.h"
#include "kllens/config.h"
#include "kllens/gguf_model.h"
#include "kllens/safetensors.h"

namespace kllens::cli {

namespace {

void run_info(const std::string& dir) {
  const ModelFiles files = open_model_files(dir);
  const ModelConfig& c = files.config;
  const TensorStore& store = files.store;
  fmt::print("model        {}\narchitecture {} (model_type {})\n", dir, arch_name(c.arch), c.model_type);
  fmt::print("config       {}\n\n", c.to_json().dump());
  fmt::print("{:<56} {:>5} {:>18} {:>12}\n", "tensor", "dtype", "shape", "bytes");
  int64_t params = 0, bytes = 0;
  for (const std::string& name : store.names()) {
    const TensorInfo& t = store.get(name);
    fmt::print("{:<56} {:>5} {:>18} {:>12}\n", name, dtype_name(t.dtype), shape_str(t.shape), t.bytes);
    // A stored copy of a tied head is the embedding again: count it once.
    if (c.tie_word_embeddings && name == "lm_head.weight") continue;
    params += shape_numel(t.shape);
    bytes += int64_t(t.bytes);
  }
  fmt::print("\nparameters   {} ({:.1f} M)\nbytes        {} ({:.1f} MiB)\n", params, params / 1e6,
             bytes, bytes / 1048576.0);
}

}  // namespace

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Architecture, config, tensor table, parameters, bytes");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("MODEL", *dir, "Hugging Face model folder")->required();
  cmd->callback([dir] { run_info(*dir); });
}

}  // namespace kllens::cli
