// One device's part of a sensitivity sweep (src/lens/sensitivity.cpp): its own model copy,
// its teacher pass over the calibration windows, and the probes it is handed. A sweep over
// several devices runs one SweepWorker per device (src/lens/sweep_queue.cpp).
//
// Memory plan, per chunk of calibration windows (rows = windows·T):
//   residual[b]   [rows(+meta), H]   the stream entering every block a probe restarts from
//   teacher       [rows, V]          kept when all chunks fit teacher_cache_mb, else
//                                    recomputed per probe from the cached stream entering
//                                    the last block (one block + the head)
//   student       [rows, V], stats [rows, kKlStats], targets I32 [rows]  (shared)
// Windows per chunk: as many as keep one [rows, V] logits buffer within 256 MiB.
#pragma once

#include <map>
#include <set>
#include <vector>

#include "kllens/lens.h"

namespace kllens {

class SweepWorker {
 public:
  // `layers` are the names the probes refer to (looked up in this worker's model).
  SweepWorker(Model& model, const std::vector<int32_t>& ids, int64_t windows, int64_t T,
              const SweepOptions& opt);
  // The teacher pass; keeps the streams entering the blocks in `restart_blocks`.
  void teacher_pass(const std::set<int64_t>& restart_blocks);
  // One probe of `layer` at `bits` (metrics, per-window standard errors, perplexity when
  // opt.ppl_tokens is set); the layer's weight is restored afterwards.
  Probe run(const std::string& layer, int bits);
  Model& model() { return model_; }

 private:
  struct Chunk {
    int64_t nb = 0;                       // windows in this chunk
    std::vector<int32_t> ids;             // [nb·T]
    Tensor targets;                       // I32 [nb·T]: next token, −1 at the last position
    Tensor teacher;                       // F32 [nb·T, V] or empty (recomputed)
    std::map<int64_t, Tensor> residual;   // block → stream entering it
  };
  Model& model_;  // borrowed
  const SweepOptions& opt_;  // borrowed
  int64_t windows_, T_, V_;
  std::map<std::string, LinearLayer> layers_;
  int64_t last_first_ = 0;
  bool cache_teacher_ = true;
  std::vector<Chunk> chunks_;
  Tensor student_, stats_, teacher_scratch_;
  std::vector<float> host_;  // [windows·T, kKlStats]
};

}  // namespace kllens
