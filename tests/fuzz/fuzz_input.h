// Shared by the libFuzzer targets: the input as a file that readers taking a path can
// open, without touching the disk. A memfd lives in memory; /proc/self/fd/N names it.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "kllens/error.h"

namespace kllens::fuzz {

// One memfd per process, rewritten for every input.
inline std::string as_file(const uint8_t* data, size_t size) {
  static const int fd = ::memfd_create("kllens-fuzz", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != ssize_t(size)) std::abort();
  return "/proc/self/fd/" + std::to_string(fd);
}

// Every refusal must be a kllens::Error; anything else (a library exception, a crash, a
// sanitizer report) is a finding.
template <class F>
int run(F&& f) {
  try {
    f();
  } catch (const kllens::Error&) {
  }
  return 0;
}

}  // namespace kllens::fuzz
