// The probes of a sweep spread over devices (see sweep_queue.h).
#include "sweep_queue.h"

#include <atomic>
#include <memory>
#include <mutex>

#include <tbb/concurrent_queue.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include "sweep_worker.h"

namespace kllens {

void run_probe_queue(const std::vector<Model*>& models, const std::vector<int32_t>& ids,
                     int64_t windows, int64_t T, const SweepOptions& opt,
                     const std::set<int64_t>& restart_blocks, const std::vector<ProbeTask>& tasks,
                     const std::function<void(size_t, Probe)>& done) {
  KL_CHECK(!models.empty(), "run_probe_queue: no model");
  if (tasks.empty()) return;
  if (models.size() == 1) {  // one device: in order, on this thread
    SweepWorker w(*models[0], ids, windows, T, opt);
    w.teacher_pass(restart_blocks);
    for (size_t i = 0; i < tasks.size(); ++i) done(i, w.run(tasks[i].layer, tasks[i].bits));
    return;
  }
  tbb::concurrent_queue<size_t> queue;
  for (size_t i = 0; i < tasks.size(); ++i) queue.push(i);
  std::mutex report;             // serialises done()
  std::atomic<bool> stop{false}; // set by the first worker that fails
  const int n = int(models.size());
  // Each worker blocks on its device for most of a probe: give every one a thread.
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, size_t(n));
  tbb::task_arena arena(n);
  arena.execute([&] {
    tbb::task_group group;
    for (Model* m : models)
      group.run([&, m] {
        try {
          SweepWorker w(*m, ids, windows, T, opt);
          w.teacher_pass(restart_blocks);
          size_t i = 0;
          while (!stop.load() && queue.try_pop(i)) {
            Probe p = w.run(tasks[i].layer, tasks[i].bits);
            std::lock_guard<std::mutex> lock(report);
            done(i, std::move(p));
          }
        } catch (...) {
          stop.store(true);
          throw;  // task_group::wait() rethrows the first
        }
      });
    group.wait();
  });
}

}  // namespace kllens
