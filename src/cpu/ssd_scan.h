// ssd_scan: the Mamba-2 SSD scan (specs/mamba.md §5), state in fp32.
// Per sequence b, head h (P channels p), state index n, token t, group g = h / (nh/G):
//   Δ         = clamp(softplus(dt[t,h] + dt_bias[h]), dt_min, dt_max)   (torch threshold 20)
//   S[h][p,n] ← exp(Δ·A[h]) · S[h][p,n] + (Δ · B[t,g,n]) · x[t,h,p]
//   y[t,h,p]  = Σ_n S[h][p,n] · C[t,g,n] + D[h] · x[t,h,p]
// x, out F32 [B·T, nh·P]; dt F32 [B·T, nh]; B, C F32 [B·T, G·N] (all rows may be strided);
// dt_bias, A F32 [nh]; D F32 [nh] or empty; state F32 [B, nh, P, N] (rows of N), updated.
//
// Tiers: ssd_scan_ref is the plain recurrence above (the reference). ssd_scan_chunked_ref
// is the chunked SSD algorithm of §5.3 in plain loops (what the fast tiers compute for
// T > 1). ssd_scan_avx2 runs the chunked algorithm for T > 1 and the recurrence for T = 1
// (the decode step), heads over the OpenMP threads.
#pragma once

#include "kllens/backend.h"

namespace kllens::cpu {

void ssd_scan_ref(const SsdScanArgs& a);
void ssd_scan_chunked_ref(const SsdScanArgs& a);
void ssd_scan_avx2(const SsdScanArgs& a);
void ssd_scan(CpuTier tier, const SsdScanArgs& a);

}  // namespace kllens::cpu
