// The vector exp of the SIMD tiers, written once over the vector width, so that every
// width gives the same bits lane for lane (avx2::exp8, avx512::exp16; vec_math_avx2.h
// states the method and its accuracy).
//
// O is the width's set of operations (avx2::Ops8, avx512::Ops16): F the float vector, and
// set, min, max, round (to nearest), mul, add, fmadd (a·b + c), fnmadd (c − a·b), cvt (to
// int32, nearest), half (arithmetic shift right by 1), isub and pow2 (2^k for k in
// [−126, 127] as a float, from the exponent bits).
//
// Included by vec_math_avx2.h and vec_math_avx512.h only. The template has internal
// linkage (the unnamed namespace): each file that uses it compiles its own copy for its
// own instruction set, and the linker must never hand one file's copy to another.
#pragma once

namespace kllens::cpu {
namespace {  // NOLINT(google-build-namespaces, cert-dcl59-cpp): internal linkage on purpose, see above

template <class O>
typename O::F exp_cephes(typename O::F x) {
  // max/min return their second operand when one is NaN: NaN passes through.
  x = O::min(O::set(89.0f), O::max(O::set(-104.0f), x));
  const auto n = O::round(O::mul(x, O::set(1.44269504088896341f)));
  auto r = O::fnmadd(n, O::set(0.693359375f), x);  // n·C1 is exact
  r = O::fnmadd(n, O::set(-2.12194440e-4f), r);
  auto p = O::set(1.9875691500e-4f);
  p = O::fmadd(p, r, O::set(1.3981999507e-3f));
  p = O::fmadd(p, r, O::set(8.3334519073e-3f));
  p = O::fmadd(p, r, O::set(4.1665795894e-2f));
  p = O::fmadd(p, r, O::set(1.6666665459e-1f));
  p = O::fmadd(p, r, O::set(5.0000001201e-1f));
  p = O::fmadd(p, O::mul(r, r), O::add(r, O::set(1.0f)));
  const auto ni = O::cvt(n);  // in [-150, 129]
  const auto n1 = O::half(ni);
  return O::mul(O::mul(p, O::pow2(n1)), O::pow2(O::isub(ni, n1)));
}

}  // namespace
}  // namespace kllens::cpu
