// One device's part of a sensitivity sweep (see sweep_worker.h).
#include "sweep_worker.h"

#include <algorithm>
#include <chrono>

#include "kllens/error.h"
#include "kllens/perplexity.h"

namespace kllens {

SweepWorker::SweepWorker(Model& model, const std::vector<int32_t>& ids, int64_t windows, int64_t T,
                         const SweepOptions& opt)
    : model_(model), opt_(opt), windows_(windows), T_(T), V_(model.config().vocab_size) {
  Backend& be = model_.backend();
  for (const LinearLayer& l : model_.linear_layers(opt.include_head)) layers_.emplace(l.name, l);
  last_first_ = model_.resume_block(model_.config().num_layers - 1);
  const int64_t per_chunk =
      std::clamp<int64_t>((int64_t(256) << 20) / std::max<int64_t>(1, T * V_ * 4), 1, windows);
  cache_teacher_ = double(windows * T) * double(V_) * 4.0 <= opt.teacher_cache_mb * 1048576.0;
  for (int64_t w0 = 0; w0 < windows; w0 += per_chunk) {
    Chunk c;
    c.nb = std::min(per_chunk, windows - w0);
    c.ids.assign(ids.begin() + w0 * T, ids.begin() + (w0 + c.nb) * T);
    std::vector<int32_t> tg(c.ids.size());
    for (int64_t i = 0; i < c.nb * T; ++i) tg[size_t(i)] = i % T == T - 1 ? -1 : c.ids[size_t(i + 1)];
    c.targets = be.alloc(DType::I32, {c.nb * T});
    be.upload(c.targets, tg.data());
    chunks_.push_back(std::move(c));
  }
  const int64_t max_rows = per_chunk * T;
  student_ = be.alloc(DType::F32, {max_rows, V_});
  stats_ = be.alloc(DType::F32, {max_rows, kKlStats});
  if (!cache_teacher_) teacher_scratch_ = be.alloc(DType::F32, {max_rows, V_});
  host_.resize(size_t(windows * T * kKlStats));
}

void SweepWorker::teacher_pass(const std::set<int64_t>& restart_blocks) {
  Backend& be = model_.backend();
  std::set<int64_t> need = restart_blocks;
  if (!cache_teacher_) need.insert(last_first_);
  for (Chunk& c : chunks_) {
    const int64_t rows = c.nb * T_;
    const Tensor out = cache_teacher_ ? be.alloc(DType::F32, {rows, V_}) : teacher_scratch_.slice_rows(0, rows);
    auto state = model_.new_state(c.nb);
    model_.forward(c.ids, c.nb, T_, *state, out, [&](int64_t index, const Tensor& h) {
      if (!need.count(index)) return;
      Tensor keep = be.alloc(DType::F32, {h.rows(), h.cols()});
      be.copy(h, keep);
      c.residual[index] = keep;
    });
    if (cache_teacher_) c.teacher = out;
  }
}

Probe SweepWorker::run(const std::string& layer, int bits) {
  Backend& be = model_.backend();
  const LinearLayer& l = layers_.at(layer);
  const auto t0 = std::chrono::steady_clock::now();
  const Weight q = quantize_weight(be, *l.weight, {bits, opt_.group});
  const int64_t first = model_.resume_block(l.block);
  // A tied head is also the embedding: no stored prefix is free of it.
  const bool full = !opt_.prefix_reuse ||
                    (l.block == model_.config().num_layers && model_.config().tie_word_embeddings);
  int64_t row0 = 0;
  for (Chunk& c : chunks_) {
    const int64_t rows = c.nb * T_;
    Tensor teacher = c.teacher;
    if (teacher.empty()) {  // recompute: the last block and the head, unquantised
      teacher = teacher_scratch_.slice_rows(0, rows);
      model_.forward_from(last_first_, c.residual.at(last_first_), c.nb, T_, teacher);
    }
    const Tensor s = student_.slice_rows(0, rows);
    {
      WeightSwap swap(l.weight, q);
      if (!full) {
        model_.forward_from(first, c.residual.at(first), c.nb, T_, s);
      } else {
        auto state = model_.new_state(c.nb);
        model_.forward(c.ids, c.nb, T_, *state, s);
      }
    }
    const Tensor st = stats_.slice_rows(0, rows);
    be.kl_reduce(teacher, s, c.targets, st);
    be.download(st, host_.data() + row0 * kKlStats);
    row0 += rows;
  }
  Probe p;
  p.layer = l.name;
  p.block = l.block;
  p.bits = bits;
  p.backend = be.name();
  p.m = metrics_from_stats(host_.data(), windows_, T_, V_);
  p.se = metrics_stderr_from_stats(host_.data(), windows_, T_, V_);
  if (!opt_.ppl_tokens.empty()) {
    WeightSwap swap(l.weight, q);
    p.m.perplexity = perplexity(model_, opt_.ppl_tokens, opt_.ppl_ctx).ppl();
  }
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return p;
}

}  // namespace kllens
