// Opening a file kllens reads whole or maps: the one place that refuses anything but a
// regular file (a folder, a device like /dev/zero, a FIFO) before any byte is read.
#pragma once

#include <cstdint>
#include <string>

namespace kllens {

struct RegularFile {
  int fd;         // open read-only; the caller closes it
  uint64_t size;  // bytes
};

// Opens PATH read-only. O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
// writer before the check could refuse it (it changes nothing for a regular file). Throws
// the one-line error naming PATH when it cannot be opened or is not a regular file.
RegularFile open_regular_file(const std::string& path);

}  // namespace kllens
