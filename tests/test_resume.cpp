// A sweep's --resume cannot be fooled: killed with SIGKILL at random points several times
// in a row it still ends byte-identical to an uninterrupted run, and it refuses to resume
// when the weights changed in place, when the calibration ids changed, or when a probe
// file was edited or cut short (each refusal names the file).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "kllens/io.h"
#include "support/cli.h"
#include "support/compare.h"

namespace kllens::test {
namespace {

namespace fs = std::filesystem;

std::string sweep_args(const std::string& model, const std::string& ids, const std::string& out) {
  return "sensitivity " + model + " --calib-ids " + ids + " -o " + out;
}

std::string reference_ids() { return shared_path("fixtures/tiny-mamba/reference.safetensors"); }

// Starts kllens, lets it run for `ms` milliseconds, then kills it with SIGKILL. Returns
// true when the kill landed (the run had not finished yet).
bool run_and_kill(const std::string& args, int ms) {
  const std::string cmd = "exec " + std::string(KLLENS_CLI_PATH) + " " + args + " >/dev/null 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  const bool landed = ::kill(pid, SIGKILL) == 0;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return landed && WIFSIGNALED(status);
}

std::vector<fs::path> probe_files(const std::string& out) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(out + "/probes"))
    if (e.path().filename() != "sweep.json" && e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The refusal is the last line on stderr (progress lines of probes loaded before it may
// precede it when stderr is not a terminal).
void expect_refused(const CliResult& r, const std::string& file, const std::string& why) {
  EXPECT_EQ(r.status, 1) << r.err;
  ASSERT_TRUE(r.err.ends_with("\n")) << r.err;
  const size_t start = r.err.find_last_of('\n', r.err.size() - 2);
  const std::string last = r.err.substr(start == std::string::npos ? 0 : start + 1);
  EXPECT_EQ(last.rfind("kllens: ", 0), 0u) << r.err;
  EXPECT_NE(last.find(file), std::string::npos) << r.err;
  EXPECT_NE(last.find(why), std::string::npos) << r.err;
}

// The layers of blocks 0-2 only (24 probes), to keep the test at seconds.
TEST(Resume, KilledAtRandomPointsStillByteIdentical) {
  const std::string model = shared_path("fixtures/tiny-mamba");
  const std::string full = scratch_dir();
  auto args = [&](const std::string& out) {
    return sweep_args(model, reference_ids(), out) + " --layers 'layers\\.[0-2]\\.'";
  };
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_cli(args(full)).status, 0);
  const int full_ms = int(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());

  // Fixed seed: the kill points replay. Each kill lands somewhere in the first ~40% of
  // an uninterrupted run's time (model load, hashing, teacher pass or a probe). A kill
  // drawn too late finds the run finished, and then the sweep is complete: no later
  // --resume has work left for a kill to interrupt. So a run that finishes (it must equal
  // the uninterrupted one) starts a fresh chain, with the window halved (under a parallel
  // ctest the full run that set it can take several times as long as the runs it is used
  // for), until one chain has three kills landed.
  std::mt19937 rng(12);
  int window_ms = full_ms, landed = 0;
  std::string part = scratch_dir();
  for (int round = 0; round < 30 && landed < 3; ++round) {
    std::uniform_int_distribution<int> when(window_ms / 20 + 1, window_ms * 4 / 10 + 2);
    if (run_and_kill(args(part) + (landed > 0 ? " --resume" : ""), when(rng))) {
      ++landed;
      continue;
    }
    EXPECT_EQ(read_file(part + "/sensitivity.json"), read_file(full + "/sensitivity.json"));
    part = scratch_dir();
    landed = 0;
    window_ms = std::max(40, window_ms / 2);
  }
  EXPECT_GE(landed, 3) << "kills should interrupt runs (full run " << full_ms << " ms, last window " << window_ms << " ms)";

  const CliResult done = run_cli(args(part) + " --resume");
  ASSERT_EQ(done.status, 0) << done.err;
  EXPECT_EQ(read_file(part + "/sensitivity.json"), read_file(full + "/sensitivity.json"));
  EXPECT_EQ(read_file(part + "/sensitivity.csv"), read_file(full + "/sensitivity.csv"));
}

// A sweep of `model` stopped after three probes, ready for a --resume.
std::string stopped_sweep(const std::string& model, const std::string& ids) {
  const std::string out = scratch_dir() + "/sweep";
  const CliResult r = run_cli(sweep_args(model, ids, out) + " --max-probes 3");
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  EXPECT_EQ(probe_files(out).size(), 3u);
  return out;
}

TEST(Resume, RefusedAfterTheWeightsChangedInPlace) {
  const std::string model = scratch_dir() + "/model";
  copy_model("tiny-mamba", model);
  const std::string out = stopped_sweep(model, reference_ids());
  {
    // Same path, same size, same vocab: only the bytes of the last weight differ.
    std::fstream f(model + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('\x3c');
  }
  expect_refused(run_cli(sweep_args(model, reference_ids(), out) + " --resume"), "sweep.json", "weights");
  EXPECT_FALSE(fs::exists(out + "/sensitivity.json"));
}

TEST(Resume, RefusedAfterTheCalibrationChanged) {
  const std::string model = shared_path("fixtures/tiny-mamba");
  const std::string out = stopped_sweep(model, reference_ids());
  const std::string ids = scratch_dir() + "/ids.json";
  write_file_atomic(ids, "[[1,2,3,4,5,6,7,8],[8,7,6,5,4,3,2,1]]");
  expect_refused(run_cli(sweep_args(model, ids, out) + " --resume"), "sweep.json", "different");
}

TEST(Resume, RefusedWhenAProbeFileWasEdited) {
  const std::string model = shared_path("fixtures/tiny-mamba");
  const std::string out = stopped_sweep(model, reference_ids());
  const fs::path probe = probe_files(out).at(1);
  const std::string text = read_file(probe.string());
  const std::string edited =
      std::regex_replace(text, std::regex(R"("kl_teacher_to_student": [-0-9.e]+)"), R"("kl_teacher_to_student": 0.0)");
  ASSERT_NE(edited, text);
  write_file_atomic(probe.string(), edited);
  expect_refused(run_cli(sweep_args(model, reference_ids(), out) + " --resume"), probe.filename().string(),
                 "checksum");
  EXPECT_FALSE(fs::exists(out + "/sensitivity.json"));
}

TEST(Resume, RefusedWhenAProbeFileWasCutShort) {
  const std::string model = shared_path("fixtures/tiny-mamba");
  const std::string out = stopped_sweep(model, reference_ids());
  const fs::path probe = probe_files(out).at(0);
  fs::resize_file(probe, fs::file_size(probe) / 2);
  expect_refused(run_cli(sweep_args(model, reference_ids(), out) + " --resume"), probe.filename().string(),
                 "malformed");
}

}  // namespace
}  // namespace kllens::test
