// Pieces every kllens subcommand shares: backend choice, model and tokenizer loading,
// reading token ids and text files, progress lines.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "kllens/backend.h"
#include "kllens/model.h"
#include "kllens/tokenizer.h"

namespace kllens::cli {

// The backend a command runs on. With --profile it prints the GPU time per kernel to
// stderr when the command is done with it (it outlives the model, declared first).
class BackendHandle {
 public:
  BackendHandle(std::unique_ptr<Backend> backend, bool profile);
  BackendHandle(BackendHandle&&) = default;
  BackendHandle& operator=(BackendHandle&&) = delete;
  ~BackendHandle();
  Backend& operator*() const { return *backend_; }
  Backend* operator->() const { return backend_.get(); }

 private:
  std::unique_ptr<Backend> backend_;
  bool profile_ = false;
};

// --backend cpu|vulkan [--device N] [--profile], shared by every command that runs a
// model. With no usable Vulkan device, make() says so in one line and returns the CPU
// backend.
struct BackendOption {
  std::string name = "cpu";
  int device = -1;
  bool profile = false;
  void add_to(CLI::App* cmd);
  BackendHandle make() const;
};

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir);

// A text file's bytes; throws "PATH: ..." if unreadable, and "PATH: empty text" if empty.
std::string read_text(const std::string& path);

// Token ids from "1,2,3" (commas or spaces).
std::vector<int32_t> parse_ids(const std::string& list, const std::string& what);
// Token ids from a file: a JSON array ([..] or [[..],[..]]), a safetensors file with an
// I32/I64 tensor `input_ids` ([T] or [B, T]), or plain text of integers. Sets batch.
std::vector<int32_t> read_ids_file(const std::string& path, int64_t& batch);

// Prints "\r<label> done/total" to stderr when stderr is a terminal, a line at the end.
void progress(const char* label, int64_t done, int64_t total);

void register_info(CLI::App& app);
void register_logits(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_generate(CLI::App& app);
void register_synth(CLI::App& app);
void register_bench(CLI::App& app);
void register_sensitivity(CLI::App& app);
void register_rank(CLI::App& app);
void register_allocate(CLI::App& app);
void register_evaluate(CLI::App& app);
void register_lens(CLI::App& app);
void register_merge(CLI::App& app);
void register_check_kernels(CLI::App& app);

}  // namespace kllens::cli
