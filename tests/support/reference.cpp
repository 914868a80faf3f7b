// Reference outputs of the fixture models and the fixtures' protocols (see reference.h).
#include "support/reference.h"

#include <cmath>
#include <cstring>

#include "kllens/decode.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/sampling.h"
#include "kllens/tokenizer.h"
#include "support/compare.h"

namespace kllens::test {

Reference::Reference(const std::string& fixture)
    : dir_(shared_path("fixtures/" + fixture)),
      file_(SafetensorsFile::open(dir_ + "/reference.safetensors")),
      json_(nlohmann::json::parse(read_file(dir_ + "/reference.json"))) {}

std::vector<float> Reference::f32(const std::string& name) const {
  const TensorInfo& t = file_->tensors().at(name);
  std::vector<float> v(t.bytes / 4);
  std::memcpy(v.data(), t.data, t.bytes);
  return v;
}

std::vector<int32_t> Reference::i32(const std::string& name) const {
  const TensorInfo& t = file_->tensors().at(name);
  std::vector<int32_t> v(t.bytes / 4);
  std::memcpy(v.data(), t.data, t.bytes);
  return v;
}

Shape Reference::shape(const std::string& name) const { return file_->tensors().at(name).shape; }

// ---- the fixtures' protocols -------------------------------------------------------------

GreedyRun greedy_decode(Model& model, const std::vector<int32_t>& prompt, size_t steps,
                        bool replay) {
  Backend& be = model.backend();
  const int64_t V = model.config().vocab_size, T = int64_t(prompt.size());
  auto state = model.new_state(1);
  Tensor logits = be.alloc(DType::F32, {T, V});
  std::vector<float> step(static_cast<size_t>(V));
  model.forward(prompt, 1, T, *state, logits);
  be.download(logits.slice_rows(T - 1, 1), step.data());
  const Tensor next_id = be.alloc(DType::I32, {1});
  Decoder decode(model, *state, logits.slice_rows(0, 1), replay, next_id);
  GreedyRun run;
  int32_t next = argmax(step.data(), V);
  for (size_t i = 0; i < steps; ++i) {
    run.ids.push_back(next);
    decode.step(next);
    be.download(logits.slice_rows(0, 1), step.data());
    run.step_logits.insert(run.step_logits.end(), step.begin(), step.end());
    next = argmax(step.data(), V);
    run.host_argmax.push_back(next);
    int32_t id = -1;
    be.download(next_id, &id);
    run.device_argmax.push_back(id);
  }
  run.replayed = decode.replaying();
  run.position = state->position;
  return run;
}

std::vector<float> hidden_states(Model& model, const std::vector<int32_t>& ids, int64_t batch,
                                 int64_t seqlen, const Shape& shape) {
  KL_CHECK(shape.size() == 4 && shape[1] == batch, "hidden_states: shape {} for batch {}",
           shape_str(shape), batch);
  const int64_t per = shape[1] * shape[2] * shape[3];
  std::vector<float> got(size_t(shape_numel(shape)), NAN);
  auto state = model.new_state(batch);
  model.forward(ids, batch, seqlen, *state, Tensor{}, [&](int64_t index, const Tensor& h) {
    KL_CHECK(index >= 0 && index < shape[0] && h.numel() == per,
             "hidden state {}: {} elements, reference has {} per index", index, h.numel(), per);
    model.backend().download(h, got.data() + index * per);
  });
  return got;
}

std::vector<float> prefill_then_decode(Model& model, const std::vector<int32_t>& ids,
                                       int64_t batch, int64_t seqlen, int64_t prefill) {
  KL_CHECK(prefill >= 0 && prefill <= seqlen && int64_t(ids.size()) == batch * seqlen,
           "prefill_then_decode: {} ids, batch {} × {}, prefill {}", ids.size(), batch, seqlen,
           prefill);
  Backend& be = model.backend();
  const int64_t V = model.config().vocab_size, T = seqlen, B = batch;
  std::vector<float> got(size_t(B * T * V), NAN);
  auto state = model.new_state(B);
  if (prefill > 0) {
    std::vector<int32_t> prompt;
    for (int64_t b = 0; b < B; ++b)
      prompt.insert(prompt.end(), ids.begin() + b * T, ids.begin() + b * T + prefill);
    Tensor pl = be.alloc(DType::F32, {B * prefill, V});
    model.forward(prompt, B, prefill, *state, pl);
    for (int64_t b = 0; b < B; ++b)
      be.download(pl.slice_rows(b * prefill, prefill), got.data() + b * T * V);
  }
  Tensor row = be.alloc(DType::F32, {B, V});
  std::vector<int32_t> step(static_cast<size_t>(B));
  for (int64_t t = prefill; t < T; ++t) {
    for (int64_t b = 0; b < B; ++b) step[size_t(b)] = ids[size_t(b * T + t)];
    model.forward(step, B, 1, *state, row);
    for (int64_t b = 0; b < B; ++b)
      be.download(row.slice_rows(b, 1), got.data() + (b * T + t) * V);
  }
  return got;
}

PerplexityResult test_split_perplexity(Model& model, const Reference& ref, int64_t batch) {
  auto tok = Tokenizer::load(ref.model_dir() + "/tokenizer.json");
  std::vector<int32_t> ids = tok->encode(read_file(shared_path("data/brown/test.txt")));
  KL_CHECK(ids.size() >= 8192u, "the Brown test split has only {} tokens", ids.size());
  ids.resize(8192);
  return perplexity(model, ids, 256, batch);
}

}  // namespace kllens::test
