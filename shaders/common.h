// Shared by GLSL and C++: the scalar type names push-constant structs are written in, and
// the weight storage type codes of the -DWTYPE shader variants.
//
// Each shaders/<op>.h defines its push-constant struct once, in the common subset of
// GLSL and C++ (4-byte scalars only, so std430 and the C++ layout agree). C++ also
// static_asserts the size, and src/vulkan/pipeline.cpp checks it against the SPIR-V.
#ifndef KLLENS_SHADERS_COMMON_H
#define KLLENS_SHADERS_COMMON_H

#define KL_WTYPE_F32 0
#define KL_WTYPE_F16 1
#define KL_WTYPE_BF16 2
#define KL_WTYPE_Q8_C 3
#define KL_WTYPE_Q4_C 4
#define KL_WTYPE_Q8_0 5
#define KL_WTYPE_Q4_0 6

#ifdef GL_core_profile
#define KL_BEGIN_PUSH
#define KL_END_PUSH(name, words)
#else
#include <cstdint>
#define KL_BEGIN_PUSH namespace kllens::vk::shader { using uint = std::uint32_t;
#define KL_END_PUSH(name, words) \
  static_assert(sizeof(name) == 4 * (words), #name " must be " #words " 4-byte words"); }
#endif

#endif
