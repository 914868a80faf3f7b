// The arguments of the ops whose Backend methods take their tensors one by one (backend.h
// states each op's meaning and shapes), as one struct per op, and the one check of each:
// validate() throws kllens::Error naming the op and the tensor. Both backends call it
// before anything else (the CPU backend in src/cpu/cpu_backend.cpp, each Vulkan launcher
// in src/vulkan/<op>.cpp); each then adds only what its memory or device needs (host
// memory on the CPU, 4-byte types, 16-bit storage and grid limits on Vulkan). The ops
// that take a struct already (Conv1dArgs, SsmScanArgs, SsdScanArgs, AttentionArgs) have
// theirs, and their validate(), in backend.h.
//
// The members are references: a struct lives for one call, built from the call's own
// arguments, and copies no tensor.
#pragma once

#include "kllens/backend.h"

namespace kllens {

// out[r,:] = table[ids[r],:]   table [V, H] any weight type, ids I32 [n], out F32 [n, H]
struct EmbedArgs {
  const Weight& table;
  const Tensor& ids;
  const Tensor& out;
};
void validate(const EmbedArgs& a);

// rms_norm (delta null) and add_rms_norm (residual x += delta first)   x, delta, out [n, H]
struct RmsNormArgs {
  const Tensor& x;
  const Tensor* delta;  // null for rms_norm
  const Tensor& w;      // F32 [H]
  float eps;
  const Tensor& out;
};
void validate(const RmsNormArgs& a);

// matmul, in both MatmulModes (matmul_q8act is the fast mode's kernel)   x [n, K], W [N, K]
struct MatmulArgs {
  const Tensor& x;
  const Weight& w;
  const Tensor& out;  // F32 [n, N]
};
void validate(const MatmulArgs& a);

// out = a + b
struct AddArgs {
  const Tensor& a;
  const Tensor& b;
  const Tensor& out;
};
void validate(const AddArgs& a);

// dst = src (the same dtype and shape; each side may have strided rows)
struct CopyArgs {
  const Tensor& src;
  const Tensor& dst;
};
void validate(const CopyArgs& a);

// Mamba-2's gated RMSNorm per group of group_size columns   y, z, out [n, I], w F32 [I]
struct RmsNormGatedArgs {
  const Tensor& y;
  const Tensor& z;
  const Tensor& w;
  int64_t group_size;
  float eps;
  const Tensor& out;
};
void validate(const RmsNormGatedArgs& a);

// Rotary embedding in place   x [batch*seqlen, heads*head_dim], inv_freq F32 [head_dim/2]
struct RopeArgs {
  const Tensor& x;
  const Tensor& inv_freq;
  int64_t batch, seqlen, past, heads, head_dim;
};
void validate(const RopeArgs& a);

// out = silu(gate) ⊙ up   gate, up, out [n, F]
struct SiluMulArgs {
  const Tensor& gate;
  const Tensor& up;
  const Tensor& out;
};
void validate(const SiluMulArgs& a);

// teacher, student F32 [n, V], targets I32 [n], out F32 [n, kKlStats]
struct KlReduceArgs {
  const Tensor& teacher;
  const Tensor& student;
  const Tensor& targets;
  const Tensor& out;
};
void validate(const KlReduceArgs& a);

// logits F32 [n, V], out I32 [n]
struct ArgmaxArgs {
  const Tensor& logits;
  const Tensor& out;
};
void validate(const ArgmaxArgs& a);

// logits F32 [n, V], values F32 [n, k] contiguous, indices I32 [n, k] contiguous
struct TopkArgs {
  const Tensor& logits;
  const Tensor& values;
  const Tensor& indices;
};
void validate(const TopkArgs& a);

}  // namespace kllens
