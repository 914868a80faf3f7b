// The bytes of one whole input file, read only, for the readers that validate a file in
// place (SafetensorsFile, GgufFile): either a private read-only mapping of the file that
// this object owns and unmaps, or bytes borrowed from the caller (the readers' from_bytes,
// which the fuzz targets call), so both paths run the same parser over the same type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kllens {

class FileBytes {
 public:
  // Maps PATH. Throws "PATH: cannot open: <strerror>", "PATH: cannot stat: <strerror>",
  // "PATH: not a regular file" (a folder, a FIFO: refused before anything is mapped or
  // read) and "PATH: cannot mmap: <strerror>". An empty file is an empty range (mmap
  // refuses length 0; the parsers refuse the file).
  static FileBytes map(const std::string& path);
  // Borrowed: `data` must outlive this object and everything that points into it.
  static FileBytes borrow(const uint8_t* data, size_t size);

  FileBytes() = default;
  FileBytes(FileBytes&& o) noexcept;
  FileBytes& operator=(FileBytes&& o) noexcept;
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  ~FileBytes();  // munmap when mapped

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // data_ is this object's mapping
};

}  // namespace kllens
