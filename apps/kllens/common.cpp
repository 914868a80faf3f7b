// Shared pieces of the kllens subcommands.
#include "common.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kllens/error.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"
#include "kllens/io.h"
#include "kllens/safetensors.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"
#endif

namespace kllens::cli {

void BackendOption::add_to(CLI::App* cmd) {
  cmd->add_option("--backend", name, "Where to run: cpu or vulkan")
      ->check(CLI::IsMember({"cpu", "vulkan"}))
      ->capture_default_str();
  cmd->add_option("--device", device, "Vulkan device index (see check-kernels --list-devices); "
                  "default: $KLLENS_VULKAN_DEVICE, else the best GPU")
      ->capture_default_str();
  cmd->add_flag("--profile", profile,
                "Vulkan: GPU time per kernel (timestamps), printed to stderr at the end");
}

BackendHandle BackendOption::make() const {
  if (name == "vulkan") {
#ifdef KLLENS_HAVE_VULKAN
    try {
      VulkanOptions options;
      options.device_index = device;
      options.profile = profile;
      return BackendHandle(make_vulkan_backend(options), profile);
    } catch (const Error& e) {
      std::fprintf(stderr, "kllens: no usable Vulkan device (%s); running on the CPU\n", e.what());
    }
#else
    std::fprintf(stderr, "kllens: built without the Vulkan backend; running on the CPU\n");
#endif
  }
  if (profile) std::fprintf(stderr, "kllens: --profile times Vulkan kernels; the CPU backend has none\n");
  return BackendHandle(make_cpu_backend(), false);
}

BackendHandle::BackendHandle(std::unique_ptr<Backend> backend, bool profile)
    : backend_(std::move(backend)), profile_(profile) {}

BackendHandle::~BackendHandle() {
#ifdef KLLENS_HAVE_VULKAN
  if (profile_ && backend_) {
    try {
      backend_->sync();
      std::fflush(stdout);  // the report follows the command's own output
      std::fprintf(stderr, "%s", vulkan_profile_report(*backend_).c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kllens: no kernel profile: %s\n", e.what());
    }
  }
#endif
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir) {
  if (is_gguf_file(model_dir)) return load_gguf_tokenizer(model_dir);
  return Tokenizer::load(model_dir + "/tokenizer.json");
}

std::string read_text(const std::string& path) {
  std::string text = read_file(path);
  if (text.empty()) fail("{}: empty text", path);
  return text;
}

std::vector<int32_t> parse_ids(const std::string& list, const std::string& what) {
  std::vector<int32_t> ids;
  std::string tok;
  auto flush = [&] {
    if (tok.empty()) return;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != tok.size() || v < 0 || v > INT32_MAX)
      fail("{}: '{}' is not a token id", what, tok);
    ids.push_back(int32_t(v));
    tok.clear();
  };
  for (char ch : list) {
    if (ch == ',' || std::isspace(static_cast<unsigned char>(ch))) flush();
    else tok += ch;
  }
  flush();
  if (ids.empty()) fail("{}: no token ids", what);
  return ids;
}

namespace {

std::vector<int32_t> ids_from_safetensors(const std::string& path, int64_t& batch) {
  auto file = SafetensorsFile::open(path);
  auto it = file->tensors().find("input_ids");
  if (it == file->tensors().end()) fail("{}: tensor 'input_ids' missing", path);
  const TensorInfo& t = it->second;
  if (t.shape.empty() || t.shape.size() > 2)
    fail("{}: tensor 'input_ids' has shape {}, expected [T] or [B, T]", path, shape_str(t.shape));
  batch = t.shape.size() == 2 ? t.shape[0] : 1;
  const int64_t n = shape_numel(t.shape);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (t.dtype == DType::I32) {
      std::memcpy(&ids[size_t(i)], t.data + 4 * i, 4);
    } else if (t.dtype == DType::I64) {
      int64_t v;
      std::memcpy(&v, t.data + 8 * i, 8);
      ids[size_t(i)] = int32_t(v);
    } else {
      fail("{}: tensor 'input_ids' has dtype {}, expected I32 or I64", path, dtype_name(t.dtype));
    }
  }
  return ids;
}

std::vector<int32_t> ids_from_json(const std::string& path, const std::string& text,
                                   int64_t& batch) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail("{}: malformed JSON: {}", path, e.what());
  }
  auto row = [&](const nlohmann::json& a, std::vector<int32_t>& out) {
    for (const auto& v : a) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
        fail("{}: {} is not a token id", path, v.dump());
      out.push_back(v.get<int32_t>());
    }
  };
  if (!j.is_array() || j.empty()) fail("{}: expected a JSON array of token ids", path);
  std::vector<int32_t> ids;
  if (j[0].is_array()) {
    batch = int64_t(j.size());
    for (const auto& r : j) {
      if (!r.is_array() || r.size() != j[0].size())
        fail("{}: rows of the id array must have equal length", path);
      row(r, ids);
    }
  } else {
    batch = 1;
    row(j, ids);
  }
  return ids;
}

}  // namespace

std::vector<int32_t> read_ids_file(const std::string& path, int64_t& batch) {
  if (path.ends_with(".safetensors")) return ids_from_safetensors(path, batch);
  const std::string text = read_file(path);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) fail("{}: no token ids", path);
  if (text[first] == '[') return ids_from_json(path, text, batch);
  batch = 1;
  return parse_ids(text, path);
}

void progress(const char* label, int64_t done, int64_t total) {
  if (!isatty(STDERR_FILENO)) return;
  std::fprintf(stderr, "\r%s %lld/%lld", label, (long long)done, (long long)total);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace kllens::cli
