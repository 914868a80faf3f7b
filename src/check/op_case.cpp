// Running one checker case on a backend: guarded placement of every tensor, launch,
// comparison against the reference backend, and timing.
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
  p.view.shape = ct.shape.empty() ? Shape{1} : ct.shape;
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

OutputCheck compare(const CaseTensor& ct, const std::vector<double>& ref,
                    const std::vector<double>& got) {
  OutputCheck o;
  o.name = ct.name;
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double a = ref[i], b = got[i];
    if (ct.dtype == DType::I32) {
      o.mismatches += a != b;
      continue;
    }
    if (!std::isfinite(a) || !std::isfinite(b)) {
      o.nonfinite += !(std::isnan(a) && std::isnan(b)) && a != b;
      continue;
    }
    num += (a - b) * (a - b);
    den += a * a;
    o.max_abs = std::max(o.max_abs, std::abs(a - b));
  }
  o.nmse = den > 0 ? num / den : num;
  return o;
}

}  // namespace

CaseResult run_case(const OpCase& c, Backend& reference, Backend& test) {
  CaseResult res;
  try {
    std::vector<Placed> ref = bind(reference, c), got = bind(test, c);
    c.launch(reference, views(ref));
    c.launch(test, views(got));
    reference.sync();
    test.sync();
    res.ok = true;
    for (size_t i = 0; i < c.tensors.size(); ++i) {
      const CaseTensor& ct = c.tensors[i];
      if (!ct.output) continue;
      KL_CHECK(ct.dtype == DType::F32 || ct.dtype == DType::I32, "{}: outputs are F32 or I32", ct.name);
      const std::vector<uint8_t> r = fetch(reference, ref[i]), g = fetch(test, got[i]);
      OutputCheck o = compare(ct, view_values(ct, ref[i], r), view_values(ct, got[i], g));
      o.guards_ok = guards_intact(ct, ref[i], r) && guards_intact(ct, got[i], g);
      res.ok = res.ok && o.guards_ok && o.nonfinite == 0 && o.mismatches == 0 && o.nmse <= c.max_nmse;
      res.outputs.push_back(o);
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

std::vector<float> uniform(int64_t n, uint64_t seed, float lo, float hi) {
  // splitmix64: fixed, portable stream (std distributions differ between libraries)
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (float& x : v) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    x = lo + (hi - lo) * float(double(z >> 11) * (1.0 / 9007199254740992.0));
  }
  return v;
}

std::vector<uint8_t> encode(DType t, const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&out[i * 4], &v[i], 4);
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
