// Access to the PyTorch reference outputs in ../shared/fixtures/<model>/reference.*.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kllens/safetensors.h"

namespace kllens::test {

class Reference {
 public:
  explicit Reference(const std::string& fixture);  // e.g. "tiny-mamba"
  std::string model_dir() const { return dir_; }
  std::vector<float> f32(const std::string& name) const;
  std::vector<int32_t> i32(const std::string& name) const;
  Shape shape(const std::string& name) const;
  const nlohmann::json& json() const { return json_; }

 private:
  std::string dir_;
  std::shared_ptr<SafetensorsFile> file_;
  nlohmann::json json_;
};

}  // namespace kllens::test
