// The probes of a sweep spread over devices: one SweepWorker per model (each on its own
// backend, with its own teacher pass), each dealt its first probe before any starts and
// then pulling from one queue. oneTBB runs one task per worker in an arena sized to the
// workers, so every device is busy at once even when there are fewer cores than devices.
// One model: the probes run in order on the calling thread.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "kllens/lens.h"

namespace kllens {

struct ProbeTask {
  std::string layer;
  int bits = 8;
};

// Runs every task; `done(task index, probe)` is called once per task, never concurrently.
// A worker whose Vulkan device fails (VulkanDeviceError) says so through opt.notice, hands
// the probe it held back to the queue and stops; the others finish every task. Any other
// exception, or a device fault of the last worker, stops the others (they finish the probe
// they hold) and is rethrown here.
void run_probe_queue(const std::vector<Model*>& models, const std::vector<int32_t>& ids,
                     int64_t windows, int64_t T, const SweepOptions& opt,
                     const std::set<int64_t>& restart_blocks, const std::vector<ProbeTask>& tasks,
                     const std::function<void(size_t, Probe)>& done);

}  // namespace kllens
