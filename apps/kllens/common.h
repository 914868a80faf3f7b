// Pieces every kllens subcommand shares: backend choice, model and tokenizer loading,
// reading token ids and text files, progress lines.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
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

// --exact: the matmul arithmetic on quantised weights (MatmulMode) of generate,
// perplexity, bench and logits. fast (integer activations × integer weights) unless
// --exact asks for fp32 activations × dequantised weights, the lens's arithmetic.
struct MatmulModeOption {
  bool exact = false;
  void add_to(CLI::App* cmd);
  MatmulMode mode() const { return exact ? MatmulMode::exact : MatmulMode::fast; }
  void apply(Backend& be) const { be.set_matmul_mode(mode()); }
};

// --quantize SPEC (q8, q4, q8_g32, q4_g32, ...): every linear layer of the loaded model
// quantised in memory (a uniform plan), for timing quantised models. apply() returns the
// change in weight bytes (negative: fewer bytes to read per decode step).
struct UniformQuantOption {
  std::string spec;
  void add_to(CLI::App* cmd);
  double apply(Model& model) const;
};
// Runs `body` on the chosen backend. If the Vulkan device fails (out of device memory,
// device lost: VulkanDeviceError), says so in one line and runs `body` again from the
// start on the CPU. For commands whose output appears only at the end (a file written
// through a temporary and a rename, or a result line): nothing partial is left behind.
void run_with_cpu_fallback(const BackendOption& option, const std::function<void(BackendHandle&)>& body);
// The same with the first backend from `make` (a command with its own rules for choosing it).
void run_with_cpu_fallback(const std::function<BackendHandle()>& make,
                           const std::function<void(BackendHandle&)>& body);

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir);

// A text file's bytes; throws "PATH: ..." if unreadable, not a regular file (/dev/zero, a
// FIFO), larger than kMaxTextBytes, or empty. 256 MiB is ~40x the Brown corpus and keeps
// the encoded ids (4 bytes per token) within a few GiB.
inline constexpr uint64_t kMaxTextBytes = 256ull << 20;
std::string read_text(const std::string& path);

// Token ids from "1,2,3" (commas or spaces).
std::vector<int32_t> parse_ids(const std::string& list, const std::string& what);
// Token ids from a file: a JSON array ([..] or [[..],[..]]), a safetensors file with an
// I32/I64 tensor `input_ids` ([T] or [B, T]), or plain text of integers. Sets batch.
std::vector<int32_t> read_ids_file(const std::string& path, int64_t& batch);

// ---- the edge: options and paths checked before any work --------------------------------

// Adds a check to every floating-point option of every subcommand: NaN and ±inf are
// refused (CLI11's Range passes NaN, so "--temperature nan" would act as greedy).
void refuse_non_finite_numbers(CLI::App& app);

// `s` on one line: newlines become "; ", runs of blank space one space.
std::string one_line(std::string_view s);

// Refuses to run when an output path is one of the inputs or lies inside an input folder
// (a model folder): "--out: PATH is the input ..." (nothing is written).
void refuse_output_over_inputs(const std::string& option, const std::string& out,
                               const std::vector<std::string>& inputs);

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
void register_quantize(CLI::App& app);
void register_robustness(CLI::App& app);

}  // namespace kllens::cli
