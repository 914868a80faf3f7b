// Running one checker case on a backend: guarded placement of every tensor, launch,
// comparison against the reference backend, and timing.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "kllens/check.h"
#include "kllens/error.h"

namespace kllens::check {

namespace {

// ---- guarded placement ------------------------------------------------------------------

// The parent buffer of a tensor: [rows + 2, cols + guard_cols], the tensor at row 1.
struct Placed {
  Tensor parent, view;
  std::vector<uint8_t> initial;  // parent bytes before the launch
};

constexpr uint8_t kGuardByte = 0x5b;  // F32 0x5b5b5b5b ≈ 6.2e16: finite and unmistakable

int64_t rows_of(const Shape& s) { return s.size() <= 1 ? 1 : shape_numel(s) / s.back(); }
int64_t cols_of(const Shape& s) { return s.empty() ? 1 : s.back(); }

Placed place(Backend& be, const CaseTensor& ct) {
  const int64_t rows = rows_of(ct.shape), cols = cols_of(ct.shape);
  const bool quant = dtype_is_quantized(ct.dtype);
  KL_CHECK(!quant || ct.guard_cols == 0, "{}: quantised tensors take no guard columns", ct.name);
  Placed p;
  p.parent = be.alloc(ct.dtype, {rows + 2, cols + ct.guard_cols});
  const size_t parent_row = p.parent.row_bytes(), row = dtype_row_bytes(ct.dtype, cols);
  KL_CHECK(ct.data.empty() || ct.data.size() == size_t(rows) * row,
           "{}: {} bytes of data for shape {}", ct.name, ct.data.size(), shape_str(ct.shape));
  p.initial.assign(size_t(rows + 2) * parent_row, kGuardByte);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = p.initial.data() + size_t(r + 1) * parent_row;
    if (ct.data.empty()) std::memset(dst, 0, row);
    else std::memcpy(dst, ct.data.data() + size_t(r) * row, row);
  }
  be.upload(p.parent, p.initial.data());
  p.view = p.parent.slice_rows(1, rows);
  if (ct.guard_cols > 0) p.view = p.view.slice_cols(0, cols);
  p.view = p.view.reshape_rows(ct.shape);
  return p;
}

std::vector<Placed> bind(Backend& be, const OpCase& c) {
  std::vector<Placed> placed;
  for (const CaseTensor& ct : c.tensors) placed.push_back(place(be, ct));
  return placed;
}

std::vector<Tensor> views(const std::vector<Placed>& placed) {
  std::vector<Tensor> v;
  for (const Placed& p : placed) v.push_back(p.view);
  return v;
}

std::vector<uint8_t> fetch(Backend& be, const Placed& p) {
  std::vector<uint8_t> bytes(p.initial.size());
  be.download(p.parent, bytes.data());
  return bytes;
}

// True when every byte outside the view is as it was placed.
bool guards_intact(const CaseTensor& ct, const Placed& p, const std::vector<uint8_t>& now) {
  const size_t parent_row = p.parent.row_bytes(), row = dtype_row_bytes(ct.dtype, cols_of(ct.shape));
  const int64_t rows = rows_of(ct.shape);
  for (int64_t r = 0; r < rows + 2; ++r) {
    const size_t begin = (r == 0 || r == rows + 1) ? 0 : row;  // whole guard rows, else the tail
    for (size_t b = begin; b < parent_row; ++b)
      if (now[size_t(r) * parent_row + b] != p.initial[size_t(r) * parent_row + b]) return false;
  }
  return true;
}

// The view's elements out of the parent's bytes, as doubles (F32 or I32 outputs).
std::vector<double> view_values(const CaseTensor& ct, const Placed& p, const std::vector<uint8_t>& now) {
  const int64_t rows = rows_of(ct.shape), cols = cols_of(ct.shape);
  const size_t parent_row = p.parent.row_bytes();
  std::vector<double> v;
  v.reserve(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) {
      const uint8_t* src = now.data() + size_t(r + 1) * parent_row + size_t(k) * 4;
      if (ct.dtype == DType::I32) {
        int32_t x;
        std::memcpy(&x, src, 4);
        v.push_back(x);
      } else {
        float x;
        std::memcpy(&x, src, 4);
        v.push_back(x);
      }
    }
  return v;
}

std::string index_str(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % std::max<int64_t>(shape[d], 1);
    flat /= std::max<int64_t>(shape[d], 1);
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? "," : "") + std::to_string(idx[d]);
  return s + "]";
}

// What a backend left in every tensor after the launches: the parents' bytes.
using Snapshot = std::vector<std::vector<uint8_t>>;

Snapshot run_on(const OpCase& c, Backend& be, std::vector<Placed>& placed) {
  placed = bind(be, c);
  const std::vector<Tensor> v = views(placed);
  for (int i = 0; i < c.launches; ++i) c.launch(be, v);
  be.sync();
  Snapshot snap(c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i)
    if (c.tensors[i].output) snap[i] = fetch(be, placed[i]);
  return snap;
}

}  // namespace

Comparison compare(const std::vector<double>& ref, const std::vector<double>& got,
                   const Shape& shape, double max_nmse, bool integer) {
  KL_CHECK(ref.size() == got.size(), "compare: {} reference values, {} under test", ref.size(),
           got.size());
  Comparison c;
  double num = 0, den = 0;
  int64_t finite = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double a = ref[i], b = got[i];
    if (integer || !std::isfinite(a) || !std::isfinite(b)) continue;
    num += (a - b) * (a - b);
    den += a * a;
    ++finite;
    c.max_abs = std::max(c.max_abs, std::abs(a - b));
    c.max_rel = std::max(c.max_rel, std::abs(a - b) / std::max(std::abs(a), 1e-30));
  }
  c.nmse = den > 0 ? num / den : num;
  // (a−b)² > max_nmse · mean(a²): an element that alone spends more than its share of the
  // NMSE budget. With no such element the NMSE is within the bound by construction.
  const double limit = max_nmse * (finite ? den / double(finite) : 0.0);
  std::vector<std::pair<double, int64_t>> errs;  // the 5 largest errors, largest first
  auto keep = [&errs](double err, int64_t i) {
    if (errs.size() == 5 && err <= errs.back().first) return;
    if (errs.size() == 5) errs.pop_back();
    errs.insert(std::upper_bound(errs.begin(), errs.end(), std::pair{err, i},
                                 [](const auto& x, const auto& y) { return x.first > y.first; }),
                {err, i});
  };
  c.integer = integer;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double a = ref[i], b = got[i];
    bool over;
    double err;
    if (integer) {
      over = a != b, err = std::abs(a - b);
    } else if (!std::isfinite(a) || !std::isfinite(b)) {
      over = !(std::isnan(a) && std::isnan(b)) && a != b, err = INFINITY;
      c.nonfinite += over;
    } else {
      err = std::abs(a - b);
      over = max_nmse > 0 ? err * err > limit : a != b;
    }
    if (over) {
      if (c.over++ == 0) {
        c.first_over = int64_t(i);
        c.first_over_at = fmt::format("{} ref={:.7g} got={:.7g}", index_str(int64_t(i), shape), a, b);
      }
    }
    if (err > 0) keep(err, int64_t(i));
  }
  for (size_t i = 0; i < errs.size(); ++i) {
    const size_t j = size_t(errs[i].second);
    c.worst += fmt::format("  {} ref={:.7g} got={:.7g}\n", index_str(errs[i].second, shape), ref[j], got[j]);
  }
  return c;
}

std::string PairCheck::summary() const {
  std::string s;
  for (const OutputCheck& o : outputs) {
    if (!o.guards_ok) s += fmt::format(" {}: guard overwritten;", o.name);
    if (!o.cmp.ok(bound))
      s += fmt::format(" {}: nmse {:.3e} > {:.0e} or mismatches; {} elements over the bound ({} non-finite){};",
                       o.name, o.cmp.nmse, bound, o.cmp.over, o.cmp.nonfinite,
                       o.cmp.over ? ", first at " + o.cmp.first_over_at : "");
  }
  return s;
}

std::string PairCheck::first_over() const {
  for (const OutputCheck& o : outputs)
    if (o.cmp.over > 0) return o.name + o.cmp.first_over_at;
  return {};
}

CaseResult run_case(const OpCase& c, const std::vector<Backend*>& backends) {
  CaseResult res;
  try {
    for (const CaseTensor& ct : c.tensors)
      KL_CHECK(!ct.output || ct.dtype == DType::F32 || ct.dtype == DType::I32,
               "{}: outputs are F32 or I32", ct.name);
    std::vector<std::vector<Placed>> placed(backends.size());
    std::vector<Snapshot> snaps;
    for (size_t b = 0; b < backends.size(); ++b) snaps.push_back(run_on(c, *backends[b], placed[b]));
    res.ok = true;
    for (size_t i = 0; i < backends.size(); ++i)
      for (size_t j = i + 1; j < backends.size(); ++j) {
        PairCheck pc;
        pc.bound = c.max_nmse;
        pc.ref = backends[i]->name();
        pc.test = backends[j]->name();
        pc.ok = true;
        for (size_t t = 0; t < c.tensors.size(); ++t) {
          const CaseTensor& ct = c.tensors[t];
          if (!ct.output) continue;
          OutputCheck o;
          o.name = ct.name;
          o.cmp = compare(view_values(ct, placed[i][t], snaps[i][t]), view_values(ct, placed[j][t], snaps[j][t]),
                          ct.shape.empty() ? Shape{1} : ct.shape, c.max_nmse, ct.dtype == DType::I32);
          o.guards_ok = guards_intact(ct, placed[i][t], snaps[i][t]) && guards_intact(ct, placed[j][t], snaps[j][t]);
          pc.ok = pc.ok && o.guards_ok && o.cmp.ok(c.max_nmse);
          pc.nmse = std::max(pc.nmse, o.cmp.nmse);
          pc.max_rel = std::max(pc.max_rel, o.cmp.max_rel);
          pc.outputs.push_back(std::move(o));
        }
        res.ok = res.ok && pc.ok;
        res.pairs.push_back(std::move(pc));
      }
  } catch (const std::exception& e) {
    res.ok = false;
    res.error = e.what();
  }
  return res;
}

double time_case(const OpCase& c, Backend& be, int reps) {
  std::vector<Placed> placed = bind(be, c);
  const std::vector<Tensor> v = views(placed);
  c.launch(be, v);  // warm-up: pipelines, caches
  be.sync();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) c.launch(be, v);
  be.sync();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

// ---- input builders -----------------------------------------------------------------------

namespace {
// splitmix64: a fixed, portable stream (std distributions differ between libraries).
struct SplitMix {
  uint64_t s;
  explicit SplitMix(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  // A double in [0, 1) with 53 random bits.
  double unit() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return double(z >> 11) * (1.0 / 9007199254740992.0);
  }
};
}  // namespace

std::vector<float> uniform(int64_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  SplitMix rng(seed);
  for (float& x : v) x = lo + (hi - lo) * float(rng.unit());
  return v;
}

std::vector<float> normal(int64_t n, uint64_t seed) {
  // Box–Muller on doubles: 1 − unit() ∈ (0, 1], so the logarithm is finite.
  std::vector<float> v(static_cast<size_t>(n));
  SplitMix rng(seed);
  const double two_pi = 6.283185307179586;
  for (int64_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(1.0 - rng.unit())), a = two_pi * rng.unit();
    v[size_t(i)] = float(r * std::cos(a));
    if (i + 1 < n) v[size_t(i + 1)] = float(r * std::sin(a));
  }
  return v;
}

std::vector<uint8_t> encode(DType t, const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&out[i * 4], &v[i], 4);
    } else if (t == DType::I32) {
      const int32_t x = int32_t(v[i]);
      std::memcpy(&out[i * 4], &x, 4);
    } else {
      const uint16_t h = t == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    }
  }
  return out;
}

std::vector<uint8_t> encode_ids(const std::vector<int32_t>& ids) {
  std::vector<uint8_t> out(ids.size() * 4);
  std::memcpy(out.data(), ids.data(), out.size());
  return out;
}

CaseTensor input(std::string name, DType t, Shape shape, const std::vector<float>& v,
                 int64_t guard_cols) {
  return {std::move(name), t, std::move(shape), encode(t, v), false, guard_cols};
}

CaseTensor output(std::string name, Shape shape, int64_t guard_cols) {
  return {std::move(name), DType::F32, std::move(shape), {}, true, guard_cols};
}

}  // namespace kllens::check
