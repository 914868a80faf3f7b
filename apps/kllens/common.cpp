// Shared pieces of the kllens subcommands.
#include "common.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/gguf.h"
#include "kllens/gguf_model.h"
#include "kllens/io.h"
#include "kllens/quant.h"
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
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--profile", profile,
                "Vulkan: GPU time per kernel (timestamps), printed to stderr at the end");
}

void MatmulModeOption::add_to(CLI::App* cmd) {
  cmd->add_flag("--exact", exact,
                "Quantised weights: fp32 activations x dequantised weights (the lens's arithmetic) "
                "instead of the default fast int8 activations x integer weights");
}

void UniformQuantOption::add_to(CLI::App* cmd) {
  cmd->add_option("--quantize", spec,
                  "Quantise every linear layer in memory first: q8, q4 (per channel), q8_g32, q4_g32, ...");
}

double UniformQuantOption::apply(Model& model) const {
  if (spec.empty()) return 0;
  const QuantSpec q = QuantSpec::parse(spec);
  double delta = 0;
  for (const LinearLayer& l : model.linear_layers()) {
    Weight w = quantize_weight(model.backend(), *l.weight, q);
    delta += double(w.w.span_bytes()) + double(w.scale.empty() ? 0 : w.scale.span_bytes()) -
             double(l.weight->w.span_bytes()) -
             double(l.weight->scale.empty() ? 0 : l.weight->scale.span_bytes());
    *l.weight = std::move(w);
  }
  return delta;
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
      // A device the user named (--device, $KLLENS_VULKAN_DEVICE) that is missing or
      // malformed is their mistake to hear about, not a reason to run elsewhere.
      const char* env = std::getenv("KLLENS_VULKAN_DEVICE");
      if (device >= 0 || (env && *env)) fail("--device: {}", e.what());
      std::fprintf(stderr, "kllens: no usable Vulkan device (%s); running on the CPU\n", e.what());
    }
#else
    std::fprintf(stderr, "kllens: built without the Vulkan backend; running on the CPU\n");
#endif
  }
  if (profile) std::fprintf(stderr, "kllens: --profile times Vulkan kernels; the CPU backend has none\n");
  return BackendHandle(make_cpu_backend(best_cpu_tier()), false);
}

void run_with_cpu_fallback(const BackendOption& option, const std::function<void(BackendHandle&)>& body) {
  run_with_cpu_fallback([&] { return option.make(); }, body);
}

void run_with_cpu_fallback(const std::function<BackendHandle()>& make,
                           const std::function<void(BackendHandle&)>& body) {
#ifdef KLLENS_HAVE_VULKAN
  try {
    BackendHandle be = make();
    body(be);
    return;
  } catch (const VulkanDeviceError& e) {
    std::fprintf(stderr, "kllens: %s; continuing on the CPU\n", e.what());
  }
  BackendHandle cpu(make_cpu_backend(best_cpu_tier()), false);
  body(cpu);
#else
  BackendHandle be = make();  // no device, no device fault: the backend asked for
  body(be);
#endif
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
  std::string text = read_file(path, kMaxTextBytes);
  if (text.empty()) fail("{}: empty text", path);
  return text;
}

// Elements are separated by one comma and/or whitespace; an empty element ("1,,2", a
// leading or trailing comma) is refused rather than skipped.
std::vector<int32_t> parse_ids(const std::string& list, const std::string& what) {
  std::vector<int32_t> ids;
  std::string tok;
  bool after_comma = true;  // an element is due (start of list or after a comma)
  auto flush = [&] {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != tok.size() || v < 0 || v > INT32_MAX)
      fail("{}: '{}' is not a token id (an integer in 0..{})", what, excerpt(tok), INT32_MAX);
    ids.push_back(int32_t(v));
    tok.clear();
  };
  for (char ch : list) {
    if (ch == ',') {
      if (!tok.empty()) flush();
      else if (after_comma) fail("{}: empty element in the list of token ids", what);
      after_comma = true;
    } else if (std::isspace(static_cast<unsigned char>(ch))) {
      if (!tok.empty()) {
        flush();
        after_comma = false;
      }
    } else {
      tok += ch;
    }
  }
  if (!tok.empty()) flush();
  else if (after_comma && !ids.empty()) fail("{}: empty element in the list of token ids", what);
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
  if (n == 0) fail("{}: tensor 'input_ids' has shape {}, which holds no token ids", path,
                   shape_str(t.shape));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (t.dtype == DType::I32) {
      std::memcpy(&ids[size_t(i)], t.data + 4 * i, 4);
    } else if (t.dtype == DType::I64) {
      int64_t v;
      std::memcpy(&v, t.data + 8 * i, 8);
      if (v < 0 || v > INT32_MAX)
        fail("{}: tensor 'input_ids' element {} is {}, not a token id (0..{})", path, i, v,
             INT32_MAX);
      ids[size_t(i)] = int32_t(v);
    } else {
      fail("{}: tensor 'input_ids' has dtype {}, expected I32 or I64", path, dtype_name(t.dtype));
    }
  }
  return ids;
}

std::vector<int32_t> ids_from_json(const std::string& path, const std::string& text,
                                   int64_t& batch) {
  const nlohmann::json j = parse_json(text, path);
  auto row = [&](const nlohmann::json& a, std::vector<int32_t>& out) {
    if (a.empty()) fail("{}: an empty row of token ids", path);
    for (const auto& v : a) {
      const auto id = json_int(v, 0, INT32_MAX);
      if (!id) fail("{}: {} is not a token id (an integer in 0..{})", path, json_excerpt(v), INT32_MAX);
      out.push_back(int32_t(*id));
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
  const std::string text = read_file(path, kJsonMaxBytes);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) fail("{}: no token ids", path);
  if (text[first] == '[') return ids_from_json(path, text, batch);
  batch = 1;
  return parse_ids(text, path);
}

void refuse_non_finite_numbers(CLI::App& app) {
  const CLI::Validator finite(
      [](std::string& v) -> std::string {
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (end != v.c_str() && !std::isfinite(d)) return "'" + v + "' is not a finite number";
        return "";
      },
      "FINITE");
  std::vector<CLI::App*> apps{&app};
  for (size_t i = 0; i < apps.size(); ++i) {
    for (CLI::Option* o : apps[i]->get_options())
      if (o->get_type_name().find("FLOAT") != std::string::npos) o->check(finite);
    for (CLI::App* sub : apps[i]->get_subcommands({})) apps.push_back(sub);
  }
}

std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\r') {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      if (!out.empty() && !out.ends_with("; ")) out += "; ";
    } else if (!(c == ' ' && (out.empty() || out.back() == ' '))) {
      out += c;
    }
  }
  while (out.ends_with("; ") || out.ends_with(" ")) out.pop_back();
  if (out.ends_with(";")) out.pop_back();
  return out;
}

void refuse_output_over_inputs(const std::string& option, const std::string& out,
                               const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  if (out.empty()) return;
  std::error_code ec;
  const fs::path o = fs::weakly_canonical(fs::absolute(out), ec);
  if (ec) return;  // the output's own errors are reported where it is written
  for (const std::string& in : inputs) {
    if (in.empty()) continue;
    const fs::path i = fs::weakly_canonical(fs::absolute(in), ec);
    if (ec) continue;
    if (o == i) fail("{}: {} is also an input; refusing to overwrite it", option, out);
    if (fs::is_directory(i)) {
      const auto rel = o.lexically_relative(i);
      if (!rel.empty() && *rel.begin() != "..")
        fail("{}: {} lies inside the input folder {}; refusing to write there", option, out, in);
    }
  }
}

void progress(const char* label, int64_t done, int64_t total) {
  if (!isatty(STDERR_FILENO)) return;
  std::fprintf(stderr, "\r%s %lld/%lld", label, (long long)done, (long long)total);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace kllens::cli
