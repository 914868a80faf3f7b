// Scalar helpers shared by the phase-2 kernels (ssd_scan, rms_norm_gated, silu_mul,
// attention, kl_reduce, rope). Plain GLSL; every function is accurate in fp32 without
// relying on the driver's precision for log near 1 (the Vulkan spec only bounds log's
// *absolute* error there, 2^-21) or on fused multiply-add.
#ifndef KLLENS_MATH_GLSL
#define KLLENS_MATH_GLSL

#define kNegInf uintBitsToFloat(0xff800000u)

// silu(v) = v · σ(v) = v / (1 + e^-v), as the CPU reference writes it.
float silu(float v) { return v / (1.0 + exp(-v)); }

// log(1 + e^v) with threshold 20 (PyTorch): v above it; small values keep their precision
// through log1p(y) = log(u)·y/(u−1), u = 1 + y.
float softplus(float v) {
  if (v > 20.0) return v;
  const float y = exp(v);
  precise float u = 1.0 + y;
  return u == 1.0 ? y : log(u) * (y / (u - 1.0));
}

// log(1 + x), x > −1, to a few ulp: for |x| < 1/4 the series of 2·atanh(s), s = x/(2+x)
// (|s| < 1/7, terms to s^13 leave < 1e-12 relative), else log(1 + x) directly.
float log1p_acc(float x) {
  if (abs(x) >= 0.25) return log(1.0 + x);
  const float s = x / (2.0 + x), s2 = s * s;
  float t = 1.0 / 13.0;
  t = t * s2 + 1.0 / 11.0;
  t = t * s2 + 1.0 / 9.0;
  t = t * s2 + 1.0 / 7.0;
  t = t * s2 + 1.0 / 5.0;
  t = t * s2 + 1.0 / 3.0;
  return 2.0 * s + 2.0 * s * (s2 * t);
}

// e^x − 1 to a few ulp: Taylor series for |x| < 1/4 (terms to x^10/10! leave < 1e-13
// relative), else exp(x) − 1.
float expm1_acc(float x) {
  if (abs(x) >= 0.25) return exp(x) - 1.0;
  float t = 1.0 / 3628800.0;
  t = t * x + 1.0 / 362880.0;
  t = t * x + 1.0 / 40320.0;
  t = t * x + 1.0 / 5040.0;
  t = t * x + 1.0 / 720.0;
  t = t * x + 1.0 / 120.0;
  t = t * x + 1.0 / 24.0;
  t = t * x + 1.0 / 6.0;
  t = t * x + 0.5;
  return x + x * (x * t);
}

#endif
