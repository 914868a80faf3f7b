// FileBytes: a whole file mapped read-only, or borrowed bytes (see kllens/file_bytes.h).
#include "kllens/file_bytes.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "kllens/error.h"

namespace kllens {

FileBytes FileBytes::map(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before the
  // check below could refuse it. It changes nothing for a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
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
  FileBytes b;
  b.size_ = size_t(st.st_size);
  if (b.size_ == 0) {  // mmap refuses an empty range
    ::close(fd);
    return b;
  }
  void* map = ::mmap(nullptr, b.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) fail("{}: cannot mmap: {}", path, std::strerror(map_errno));
  b.data_ = static_cast<const uint8_t*>(map);
  b.mapped_ = true;
  return b;
}

FileBytes FileBytes::borrow(const uint8_t* data, size_t size) {
  FileBytes b;
  b.data_ = data;
  b.size_ = size;
  return b;
}

FileBytes::FileBytes(FileBytes&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
      mapped_(std::exchange(o.mapped_, false)) {}

FileBytes& FileBytes::operator=(FileBytes&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, false);
  }
  return *this;
}

FileBytes::~FileBytes() { release(); }

void FileBytes::release() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
  mapped_ = false;
}

}  // namespace kllens
