// Reference outputs of the fixture models.
#include "support/reference.h"

#include <cstring>

#include "kllens/io.h"
#include "support/compare.h"

namespace kllens::test {

Reference::Reference(const std::string& fixture)
    : dir_(shared_path("fixtures/" + fixture)),
      file_(SafetensorsFile::open(dir_ + "/reference.safetensors")),
      json_(nlohmann::json::parse(read_file(dir_ + "/reference.json"))) {}

std::vector<float> Reference::f32(const std::string& name) const {
  const TensorInfo& t = file_->tensors().at(name);
  std::vector<float> v(t.bytes / 4);
  std::memcpy(v.data(), t.data, t.bytes);
  return v;
}

std::vector<int32_t> Reference::i32(const std::string& name) const {
  const TensorInfo& t = file_->tensors().at(name);
  std::vector<int32_t> v(t.bytes / 4);
  std::memcpy(v.data(), t.data, t.bytes);
  return v;
}

Shape Reference::shape(const std::string& name) const { return file_->tensors().at(name).shape; }

}  // namespace kllens::test
