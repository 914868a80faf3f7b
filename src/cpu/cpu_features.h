// Which CPU tier the kernels run, and per-thread scratch memory for the fast tier.
//
// Every op has a scalar reference tier and an AVX2+FMA+F16C tier (files *_avx2.cpp, the
// only ones compiled with those instruction sets). The packed fast matmul and the decode
// scan also have an AVX-512 tier (files *_avx512.cpp, the only ones compiled with
// AVX-512); the avx512 tier runs every other op on its AVX2 code. The dispatcher of each op asks the
// tier it is given (the CpuBackend's, chosen when it is made: make_cpu_backend(CpuTier)),
// so the reference and avx2 tiers run through the production dispatch on a machine that
// has the later ones.
#pragma once

#include <cstddef>

#include "kllens/backend.h"

namespace kllens::cpu {

// The CPU supports AVX2, FMA and F16C (checked once).
bool cpu_has_avx2();
// The CPU (and the OS, which must save the zmm state) supports AVX-512 F, BW, VL and VNNI
// besides AVX2 (checked once).
bool cpu_has_avx512vnni();

// The tier runs the ops' AVX2 code (avx2, and avx512 for every op without an AVX-512 file).
inline bool runs_avx2(CpuTier tier) { return tier != CpuTier::reference; }

// A 64-byte-aligned per-thread scratch array of at least `n` floats, valid until the
// next call on the same thread. Lives in a non-AVX2 file so that no std template is
// instantiated with AVX2 code (the linker could otherwise keep that copy for everyone).
float* scratch_floats(size_t n);
// A second per-thread scratch (64-byte aligned, at least `bytes`), apart from
// scratch_floats: an op's calling thread keeps its quantised activations here while the
// same thread, as one of the workers, uses scratch_floats.
void* scratch_act(size_t bytes);

}  // namespace kllens::cpu
