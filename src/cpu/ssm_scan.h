// ssm_scan: the Mamba-1 selective scan (also Hymba's SSM branch), state in fp32.
// Per sequence b, channel i, state index n, token t:
//   Δ = softplus(delta[t,i]) (torch threshold 20) if delta_softplus, else delta[t,i]
//   h[i,n] ← exp(Δ·A[i,n]) · h[i,n] + (Δ · B[t,n]) · u[t,i]
//   y[t,i] = Σ_n h[i,n] · C[t,n] + u[t,i] · D[i];   out[t,i] = y · silu(z[t,i]) if z given
// u, delta, z, out F32 [B·T, I]; B, C F32 [B·T, N] (all rows may be strided);
// A F32 [I, N]; D F32 [I] or empty; state F32 [B, I, N], read and updated.
#pragma once

#include "kllens/backend.h"

namespace kllens::cpu {

void ssm_scan_ref(const SsmScanArgs& a);
void ssm_scan_avx2(const SsmScanArgs& a);
// The AVX-512 tier (decode with N = 16; the AVX2 tier for every other shape). Needs
// cpu_has_avx512vnni()'s AVX-512 F and VL.
void ssm_scan_avx512(const SsmScanArgs& a);
// The AVX2 tier's decode (T = 1, N % 8 == 0) of sequence b, channels [i0, i1) only: the
// AVX-512 tier's channels past its last whole block of 8.
void ssm_scan_avx2_decode(const SsmScanArgs& a, int64_t b, int64_t i0, int64_t i1);
void ssm_scan(CpuTier tier, const SsmScanArgs& a);

}  // namespace kllens::cpu
