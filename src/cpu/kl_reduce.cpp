// kl_reduce, reference tier and dispatcher (formulas and precision in kl_reduce.h).
// Plain loops in fp64: one pass per row with online log-sum-exp for both distributions.
#include "cpu/kl_reduce.h"

#include "cpu/cpu_features.h"

namespace kllens::cpu {

void KlAccum::add(double z, double d, int64_t v) {
  if (z > m) {  // strict: the first index of the maximum is kept
    const double f = std::exp(m - z);
    S *= f;
    A *= f;
    m = z;
    arg = v;
  }
  const double e = std::exp(z - m);
  S += e;
  A += e * d;
}

double KlAccum::lse() const { return m + std::log(S); }

void kl_finish_row(const KlAccum& t, const KlAccum& s, double sq, double tt, const float* zt,
                   const float* zs, int32_t target, float* out) {
  const double lse_t = t.lse(), lse_s = s.lse();
  const double c = lse_t - lse_s;
  out[0] = float(t.A / t.S - c);
  out[1] = float(c - s.A / s.S);
  out[2] = target >= 0 ? float(lse_t - double(zt[target])) : 0.0f;
  out[3] = target >= 0 ? float(lse_s - double(zs[target])) : 0.0f;
  out[4] = float(sq);
  out[5] = float(tt);
  out[6] = t.arg == s.arg ? 1.0f : 0.0f;
  out[7] = target >= 0 ? float((double(zt[target]) - double(zs[target])) - c) : 0.0f;
}

void kl_reduce_ref(const Tensor& teacher, const Tensor& student, const Tensor& targets,
                   const Tensor& out) {
  const int64_t n = teacher.rows(), V = teacher.cols();
  for (int64_t r = 0; r < n; ++r) {
    const float* zt = teacher.data<float>() + r * teacher.row_stride;  // [V]
    const float* zs = student.data<float>() + r * student.row_stride;  // [V]
    KlAccum t, s;
    double sq = 0, tt = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double a = zt[v], b = zs[v], d = a - b;
      t.add(a, d, v);
      s.add(b, d, v);
      sq += d * d;
      tt += a * a;
    }
    kl_finish_row(t, s, sq, tt, zt, zs, targets.data<int32_t>()[r],
                  out.data<float>() + r * out.row_stride);
  }
}

void kl_reduce(CpuTier tier, const Tensor& teacher, const Tensor& student, const Tensor& targets,
               const Tensor& out) {
  if (runs_avx2(tier)) return kl_reduce_avx2(teacher, student, targets, out);
  kl_reduce_ref(teacher, student, targets, out);
}

}  // namespace kllens::cpu
