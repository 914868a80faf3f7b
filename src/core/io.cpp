// Whole-file reads and atomic writes (temp file + fsync + rename), see kllens/io.h.
#include "kllens/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/open_regular.h"
#include "kllens/error.h"

namespace kllens {

namespace {

std::string errno_str() { return std::strerror(errno); }

// Temp names must differ between threads of one process as well as between processes.
std::atomic<uint64_t> g_tmp_counter{0};

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

// ---- AtomicFile -------------------------------------------------------------------------

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // "x" never clobbers a file we did not create; a stale temp file left by a crashed
  // process with the same (recycled) pid only makes us try the next name.
  for (int attempt = 0; attempt < 100 && !f_; ++attempt) {
    tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_tmp_counter++);
    f_ = std::fopen(tmp_.c_str(), "wbx");
    if (!f_ && errno != EEXIST) break;
  }
  if (!f_) fail("{}: cannot create: {}", path_, errno_str());
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

std::FILE* AtomicFile::file() {
  KL_CHECK(f_ != nullptr, "{}: file already committed", path_);
  return f_;
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (bytes == 0) return;
  if (std::fwrite(data, 1, bytes, file()) != bytes)
    fail("{}: write failed: {}", path_, errno_str());
}

void AtomicFile::write(std::string_view s) { write(s.data(), s.size()); }

void AtomicFile::commit() {
  std::FILE* f = file();
  f_ = nullptr;  // closed below whatever happens; the destructor must not close it again
  int err = 0;
  if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) err = errno;
  if (std::fclose(f) != 0 && err == 0) err = errno;
  if (err != 0) fail("{}: write failed: {}", path_, std::strerror(err));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail("{}: cannot rename into place: {}", path_, errno_str());
  committed_ = true;
  // The rename itself is durable only once the directory entry is on disk.
  const std::string dir = parent_dir(path_);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd < 0) fail("{}: cannot open directory {}: {}", path_, dir, errno_str());
  err = ::fsync(dfd) != 0 ? errno : 0;
  ::close(dfd);
  // Some file systems cannot sync a directory (EINVAL); the file's own data is synced.
  if (err != 0 && err != EINVAL)
    fail("{}: cannot sync directory {}: {}", path_, dir, std::strerror(err));
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

// ---- reading ----------------------------------------------------------------------------

RegularFile open_regular_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("{}: cannot open: {}", path, errno_str());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", path);
  }
  return {fd, uint64_t(st.st_size)};
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
  const auto [fd, size] = open_regular_file(path);
  if (size > max_bytes) {
    ::close(fd);
    fail("{}: {} bytes, more than the {}-byte limit", path, size, max_bytes);
  }
  std::string out(size_t(size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail("{}: read failed: {}", path, std::strerror(err));
    }
    if (n == 0) break;  // the file shrank since fstat
    got += size_t(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace kllens
