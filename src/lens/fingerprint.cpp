// Content hashes for --resume (lens.h): a sweep resumed after its weights or calibration
// changed must be refused, so the fingerprint hashes the bytes, not the paths.
//
// XXH3-64 runs at memory speed (~10 GB/s on one core), so hashing a multi-GB checkpoint
// costs seconds against a sweep of hours; the tensors are mmapped, nothing is copied.
#include <xxhash.h>

#include <fmt/format.h>

#include "kllens/error.h"
#include "kllens/lens.h"
#include "kllens/safetensors.h"

namespace kllens {

namespace {

// Streaming XXH3 state with RAII.
class Xxh3 {
 public:
  explicit Xxh3(uint64_t seed = 0) : s_(XXH3_createState()) {
    KL_CHECK(s_ != nullptr, "XXH3_createState failed");
    XXH3_64bits_reset_withSeed(s_, seed);
  }
  Xxh3(const Xxh3&) = delete;
  Xxh3& operator=(const Xxh3&) = delete;
  ~Xxh3() { XXH3_freeState(s_); }
  void add(const void* p, size_t n) { XXH3_64bits_update(s_, p, n); }
  void add(std::string_view s) {
    const uint64_t n = s.size();  // length first: "ab"+"c" and "a"+"bc" differ
    add(&n, sizeof n);
    add(s.data(), s.size());
  }
  uint64_t digest() const { return XXH3_64bits_digest(s_); }

 private:
  XXH3_state_t* s_;  // owned
};

}  // namespace

uint64_t weights_content_hash(const std::string& model_dir) {
  const TensorStore store = TensorStore::open_dir(model_dir);
  Xxh3 h;
  for (const std::string& name : store.names()) {  // sorted (a std::map)
    const TensorInfo& t = store.get(name);
    h.add(name);
    h.add(dtype_name(t.dtype));
    for (int64_t d : t.shape) h.add(&d, sizeof d);
    h.add(t.data, t.bytes);
  }
  return h.digest();
}

uint64_t ids_content_hash(const std::vector<int32_t>& ids, uint64_t seed) {
  return XXH3_64bits_withSeed(ids.data(), ids.size() * sizeof(int32_t), seed);
}

std::string checksum_hex(std::string_view bytes) {
  return fmt::format("{:016x}", XXH3_64bits(bytes.data(), bytes.size()));
}

}  // namespace kllens
