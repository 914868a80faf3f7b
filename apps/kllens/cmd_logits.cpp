// kllens logits MODEL --ids 1,2,3 | --ids-file FILE --out OUT.safetensors [--plan plan.json]
// Writes the F32 tensor `logits` [T, V] ([B, T, V] for a batch of sequences): the hook
// for comparing kllens with any other implementation.
#include <fmt/format.h>

#include "common.h"
#include "kllens/error.h"
#include "kllens/safetensors.h"
#include "plan_option.h"

namespace kllens::cli {

namespace {

struct LogitsArgs {
  std::string model, ids, ids_file, out;
  BackendOption backend;
  MatmulModeOption matmul;
  PlanOption plan;
};

void run_logits(const LogitsArgs& a) {
  refuse_output_over_inputs("--out", a.out, {a.model, a.ids_file});
  int64_t batch = 1;
  std::vector<int32_t> ids = a.ids_file.empty() ? parse_ids(a.ids, "--ids")
                                                 : read_ids_file(a.ids_file, batch);
  const int64_t seqlen = int64_t(ids.size()) / batch;
  run_with_cpu_fallback(a.backend, [&](BackendHandle& be) {
    a.matmul.apply(*be);
    auto model = a.plan.load(a.model, *be);
    const int64_t V = model->config().vocab_size;
    for (int32_t id : ids)
      if (id >= V) fail("{}: token id {} outside the vocabulary [0, {})",
                        a.ids_file.empty() ? "--ids" : a.ids_file, id, V);
    std::vector<float> logits = compute_logits(*model, ids, batch, seqlen);
    const Shape shape = batch == 1 ? Shape{seqlen, V} : Shape{batch, seqlen, V};
    write_safetensors(a.out, {{"logits", DType::F32, shape}},
                      [&](size_t, void* dst, size_t bytes) { std::memcpy(dst, logits.data(), bytes); });
    fmt::print("wrote {} logits {}\n", a.out, shape_str(shape));
  });
}

}  // namespace

void register_logits(CLI::App& app) {
  auto a = std::make_shared<LogitsArgs>();
  auto* cmd = app.add_subcommand("logits", "Write the F32 logits of token ids to a safetensors file");
  cmd->add_option("MODEL", a->model, "Hugging Face model folder")->required();
  auto* ids = cmd->add_option("--ids", a->ids, "Comma-separated token ids");
  auto* file = cmd->add_option("--ids-file", a->ids_file,
                               "Token ids: JSON array, safetensors (input_ids) or text");
  ids->excludes(file);
  cmd->add_option("--out", a->out, "Output .safetensors file")->required();
  a->backend.add_to(cmd);
  a->matmul.add_to(cmd);
  a->plan.add_to(cmd);
  cmd->callback([a, ids, file] {
    if (ids->count() == 0 && file->count() == 0) fail("logits: give --ids or --ids-file");
    run_logits(*a);
  });
}

}  // namespace kllens::cli
