// kllens bench's results as Markdown, CSV, JSON and JSON lines (see bench_report.h).
#include "bench_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kllens::cli {

double BenchResult::mean_ts() const {
  double s = 0;
  for (double t : seconds) s += double(tokens()) / t;
  return seconds.empty() ? NAN : s / double(seconds.size());
}

double BenchResult::stddev_ts() const {
  if (seconds.size() < 2) return 0;
  const double m = mean_ts();
  double s = 0;
  for (double t : seconds) s += (double(tokens()) / t - m) * (double(tokens()) / t - m);
  return std::sqrt(s / double(seconds.size() - 1));
}

double BenchResult::gbps() const { return n_gen > 0 ? double(stream_bytes) * mean_ts() / 1e9 : NAN; }

nlohmann::ordered_json BenchResult::to_json() const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
  nlohmann::ordered_json j;
  j["model_filename"] = model_path;
  j["model_type"] = model;
  j["plan"] = plan;
  j["model_size"] = model_bytes;
  j["model_n_params"] = params;
  j["backends"] = backend;
  j["gpu_info"] = device;
  j["driver"] = driver;
  j["n_threads"] = threads;
  j["test"] = test;
  j["n_prompt"] = n_prompt;
  j["n_gen"] = n_gen;
  j["decode_steps"] = decode_steps;
  auto& ns = j["samples_ns"] = nlohmann::ordered_json::array();
  auto& ts = j["samples_ts"] = nlohmann::ordered_json::array();
  double avg_ns = 0;
  for (double s : seconds) {
    ns.push_back(int64_t(std::llround(s * 1e9)));
    ts.push_back(double(tokens()) / s);
    avg_ns += s * 1e9 / double(seconds.size());
  }
  j["avg_ns"] = int64_t(std::llround(avg_ns));
  j["avg_ts"] = num(mean_ts());
  j["stddev_ts"] = num(stddev_ts());
  j["decode_stream_bytes"] = stream_bytes;
  j["weight_stream_gbps"] = num(gbps());
  j["read_bandwidth_gbps"] = num(read_bw_gbps);
  j["read_bandwidth_fraction"] = num(read_bw_fraction());
  j["resident_bytes"] = resident_bytes ? nlohmann::ordered_json(resident_bytes) : nlohmann::ordered_json(nullptr);
  return j;
}

namespace {

std::string human_bytes(uint64_t b) {
  const double gib = double(b) / (1024.0 * 1024.0 * 1024.0);
  return gib >= 1 ? fmt::format("{:.2f} GiB", gib) : fmt::format("{:.2f} MiB", double(b) / (1024.0 * 1024.0));
}

std::string human_params(int64_t n) {
  return n >= 1000000000 ? fmt::format("{:.2f} B", double(n) / 1e9) : fmt::format("{:.2f} M", double(n) / 1e6);
}

}  // namespace

std::string bench_markdown(const std::vector<BenchResult>& rows) {
  // llama-bench's columns and alignment (text left, numbers right), then kllens's own.
  const std::vector<std::string> head{"model", "size", "params", "backend", "threads", "test", "t/s",
                                      "weights GB/s", "% of read BW", "resident"};
  const std::vector<bool> right{false, true, true, false, true, true, true, true, true, true};
  std::vector<std::vector<std::string>> cells;
  for (const BenchResult& r : rows) {
    const bool tg = r.n_gen > 0;
    cells.push_back({r.model, human_bytes(r.model_bytes), human_params(r.params), r.backend, std::to_string(r.threads),
                     r.test, fmt::format("{:.2f} ± {:.2f}", r.mean_ts(), r.stddev_ts()),
                     tg ? fmt::format("{:.2f}", r.gbps()) : "", tg ? fmt::format("{:.0f} %", 100 * r.read_bw_fraction()) : "",
                     r.resident_bytes ? human_bytes(r.resident_bytes) : ""});
  }
  std::vector<size_t> w(head.size());
  // "±" is two bytes and one column: count code points, not bytes.
  auto width = [](const std::string& s) { return size_t(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; })); };
  for (size_t c = 0; c < head.size(); ++c) {
    w[c] = width(head[c]);
    for (const auto& row : cells) w[c] = std::max(w[c], width(row[c]));
  }
  auto line = [&](const std::vector<std::string>& v) {
    std::string s = "|";
    for (size_t c = 0; c < v.size(); ++c) {
      const std::string pad(w[c] - width(v[c]), ' ');
      s += " " + (right[c] ? pad + v[c] : v[c] + pad) + " |";
    }
    return s + "\n";
  };
  std::string out = line(head) + "|";
  for (size_t c = 0; c < head.size(); ++c) out += " " + std::string(w[c] - (right[c] ? 1 : 0), '-') + (right[c] ? ":" : "") + " |";
  out += "\n";
  for (const auto& row : cells) out += line(row);
  return out;
}

std::string bench_csv(const std::vector<BenchResult>& rows) {
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::ordered_json j = rows[i].to_json();
    if (i == 0) {
      std::string h;
      for (const auto& [k, v] : j.items()) h += (h.empty() ? "" : ",") + k;
      out += h + "\n";
    }
    std::string line;
    for (const auto& [k, v] : j.items()) {
      std::string cell;
      if (v.is_string()) cell = v.get<std::string>();
      else if (v.is_array()) {  // samples: space-separated inside one cell
        for (const auto& x : v) cell += (cell.empty() ? "" : " ") + x.dump();
      } else if (!v.is_null()) cell = v.dump();
      // As llama-bench: the header bare, every value in double quotes (inner quotes doubled).
      std::string q = "\"";
      for (char ch : cell) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      line += (line.empty() ? "" : ",") + q + "\"";
    }
    out += line + "\n";
  }
  return out;
}

std::string bench_json(const std::vector<BenchResult>& rows) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const BenchResult& r : rows) a.push_back(r.to_json());
  return a.dump(2) + "\n";
}

std::string bench_jsonl(const std::vector<BenchResult>& rows) {
  std::string out;
  for (const BenchResult& r : rows) out += r.to_json().dump() + "\n";
  return out;
}

}  // namespace kllens::cli
