// FileBytes: a whole file mapped read-only, or borrowed bytes (see kllens/file_bytes.h).
#include "kllens/file_bytes.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/open_regular.h"
#include "kllens/error.h"

namespace kllens {

FileBytes FileBytes::map(const std::string& path) {
  const auto [fd, size] = open_regular_file(path);
  FileBytes b;
  b.size_ = size_t(size);
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
