// Whole-file input and atomic output.
//
// Every output kllens writes (converted models, plans, reports) goes through AtomicFile:
// the bytes go to a temporary file next to the target and are renamed over it only on
// commit(), so an error or a crash midway never leaves a half-written file behind and
// never destroys the previous version of the target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace kllens {

// Writes to "<path>.tmp.<pid>.<counter>" in the target's directory (same file system, so
// rename() is atomic). commit() flushes, fsyncs and renames over `path`; the destructor
// removes the temporary file if commit() was never reached.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // The open temporary file, for callers that format into it directly.
  std::FILE* file();
  void write(const void* data, size_t bytes);
  void write(std::string_view s);
  void commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_;
  std::FILE* f_ = nullptr;  // owned; null once closed
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, std::string_view contents);

// Reading refuses anything that is not a regular file (/dev/zero, a FIFO, a folder) and
// anything larger than `max_bytes`, before it reserves memory. 1 GiB is far above any
// calibration text or JSON file kllens reads (the Brown corpus is ~6 MB).
inline constexpr uint64_t kMaxReadBytes = 1ull << 30;

// The whole file as bytes. Throws "PATH: cannot open: <strerror>", "PATH: not a regular
// file", "PATH: N bytes, more than the M-byte limit" and read errors.
std::string read_file(const std::string& path, uint64_t max_bytes = kMaxReadBytes);

}  // namespace kllens
