// The probes of a sweep spread over devices (see sweep_queue.h).
#include "sweep_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include <tbb/concurrent_queue.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include "kllens/vulkan.h"  // VulkanDeviceError
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
  // Each worker's first probe is dealt to it before any worker starts, the rest are pulled
  // from the queue. A device that pays for a teacher pass always runs a probe after it, and
  // which submissions of a device are its teacher pass and which its first probe does not
  // depend on how fast the other devices drain the queue (the fault tests rely on that).
  const size_t dealt = std::min(models.size(), tasks.size());
  tbb::concurrent_queue<size_t> queue;
  for (size_t i = dealt; i < tasks.size(); ++i) queue.push(i);
  std::mutex report;             // serialises done() and opt.notice
  std::atomic<bool> stop{false}; // set by the first worker that fails for good
  // Tasks dealt or popped and neither done nor handed back: a worker that finds the queue
  // empty waits while any are held, since a device fault may hand one back.
  std::atomic<int> held{int(dealt)};
  const int n = int(models.size());
  std::atomic<int> alive{n};     // workers that have not stopped on a device fault
  // Each worker blocks on its device for most of a probe: give every one a thread.
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, size_t(n));
  tbb::task_arena arena(n);
  arena.execute([&] {
    tbb::task_group group;
    for (size_t k = 0; k < models.size(); ++k)
      group.run([&, k] {
        Model* m = models[k];
        std::optional<size_t> mine;  // the task this worker holds
        if (k < dealt) mine = k;
        try {
          SweepWorker w(*m, ids, windows, T, opt);
          w.teacher_pass(restart_blocks);
          while (!stop.load()) {
            if (!mine) {
              size_t i = 0;
              ++held;  // before the pop, so no worker sees an empty queue and nothing held in between
              if (!queue.try_pop(i)) {
                if (--held == 0) break;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
              }
              mine = i;
            }
            Probe p = w.run(tasks[*mine].layer, tasks[*mine].bits);
            {
              std::lock_guard<std::mutex> lock(report);
              done(*mine, std::move(p));
            }
            mine.reset();
            --held;
          }
        } catch (const VulkanDeviceError& e) {
          if (mine) {
            queue.push(*mine);  // handed back before it stops counting as held
            --held;
          }
          if (--alive == 0) {  // nobody left to take the probes
            stop.store(true);
            throw;
          }
          std::lock_guard<std::mutex> lock(report);
          if (opt.notice)
            opt.notice(fmt::format("{}; the probes of {} go to the other devices", e.what(), m->backend().name()));
        } catch (...) {
          stop.store(true);
          throw;  // task_group::wait() rethrows the first
        }
      });
    group.wait();
  });
}

}  // namespace kllens
