// Sweeps split over machines (include/kllens/lens.h, docs/scale.md): which probes a shard
// runs, its shard.json, and the merge that rebuilds the single-run report byte for byte.
#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "core/json.h"
#include "kllens/error.h"
#include "kllens/io.h"
#include "kllens/lens.h"

namespace kllens {

ShardSpec ShardSpec::parse(const std::string& text) {
  const size_t slash = text.find('/');
  ShardSpec s;
  auto number = [&](std::string_view v, int& out) {
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && end == v.data() + v.size() && !v.empty();
  };
  if (slash == std::string::npos || !number(std::string_view(text).substr(0, slash), s.index) ||
      !number(std::string_view(text).substr(slash + 1), s.count) || s.count < 1 || s.index < 0 ||
      s.index >= s.count)
    fail("--shard: '{}' (expected I/N with 0 <= I < N, e.g. 0/4)", text);
  return s;
}

std::vector<int> shard_owners(const std::vector<double>& costs, int count) {
  KL_CHECK(count >= 1, "shard count {}", count);
  std::vector<size_t> order(costs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<double> load(size_t(count), 0.0);
  std::vector<int> owner(costs.size(), 0);
  for (size_t i : order) {
    const int s = int(std::min_element(load.begin(), load.end()) - load.begin());  // first minimum
    owner[i] = s;
    load[size_t(s)] += costs[i];
  }
  return owner;
}

void write_shard(const SensitivityReport& r, const std::string& fingerprint,
                 const std::string& backend, const ShardSpec& shard, const std::string& dir) {
  nlohmann::ordered_json j;
  j["fingerprint"] = fingerprint;
  j["backend"] = backend;
  j["shard"] = shard.index;
  j["shards"] = shard.count;
  j["report"] = r.to_json();
  write_file_atomic(dir + "/shard.json", j.dump(2) + "\n");
}

namespace {

struct ShardFile {
  std::string path, fingerprint, backend;
  int index = 0, count = 0;
  nlohmann::ordered_json meta;  // the report without its probe tables
  SensitivityReport report;
};

ShardFile read_shard(const std::string& dir) {
  ShardFile s;
  s.path = dir + "/shard.json";
  const auto j = read_ordered_json_file(s.path);  // names the file in its own errors
  try {
    s.fingerprint = j.at("fingerprint").get<std::string>();
    s.backend = j.at("backend").get<std::string>();
    s.index = int(json_int_at(j, "shard", 0, INT32_MAX));
    s.count = int(json_int_at(j, "shards", 1, INT32_MAX));
    s.report = SensitivityReport::from_json(j.at("report"));
    s.meta = j.at("report");
    for (int b : s.report.bits) s.meta.erase(std::to_string(b));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed shard file ({})", s.path, json_parse_message(e));
  } catch (const Error& e) {
    fail("{}: {}", s.path, e.what());
  }
  if (s.index >= s.count)  // each is in range already (json_int_at)
    fail("{}: shard {}/{} is not a valid shard", s.path, s.index, s.count);
  return s;
}

}  // namespace

SensitivityReport merge_shards(const std::vector<std::string>& dirs) {
  if (dirs.empty()) fail("merge: no shard folders given");
  std::vector<ShardFile> shards;
  for (const std::string& d : dirs) shards.push_back(read_shard(d));
  const ShardFile& first = shards.front();
  std::map<int, const ShardFile*> by_index;
  for (const ShardFile& s : shards) {
    if (s.fingerprint != first.fingerprint)
      fail("{}: a different sweep than {} (fingerprint {} vs {})", s.path, first.path, s.fingerprint,
           first.fingerprint);
    if (s.backend != first.backend)
      fail("{}: ran on {}, {} on {}; merge shards of one backend", s.path, s.backend, first.path,
           first.backend);
    if (s.count != first.count) fail("{}: one of {} shards, {} one of {}", s.path, s.count, first.path, first.count);
    if (s.meta != first.meta) fail("{}: layers, calibration or teacher differ from {}", s.path, first.path);
    if (!by_index.emplace(s.index, &s).second)
      fail("{}: shard {}/{} given twice", s.path, s.index, s.count);
  }
  for (int i = 0; i < first.count; ++i)
    if (!by_index.count(i)) fail("merge: shard {}/{} missing", i, first.count);

  SensitivityReport out = first.report;
  out.probes.clear();
  out.complete = true;
  for (const LayerInfo& l : out.layers)
    for (int b : out.bits) {
      const Probe* found = nullptr;
      const ShardFile* owner = nullptr;
      for (const ShardFile& s : shards)
        if (const Probe* p = s.report.find(l.name, b)) {
          if (found) fail("{}: probe {}@{} also in {} (shards overlap)", s.path, l.name, b, owner->path);
          found = p;
          owner = &s;
        }
      if (!found) fail("merge: no shard holds probe {}@{} (incomplete sweep)", l.name, b);
      out.probes.push_back(*found);
    }
  return out;
}

}  // namespace kllens
