// Weight element access for the -DWTYPE variants (F32, F16 via 16-bit storage, BF16 read
// as uint16 and shifted into the high half of an fp32). Every conversion is exact.
// Needs: the buffer `W { WT w[]; }` declared by the includer with WT from below.
#ifndef KLLENS_WEIGHT_GLSL
#define KLLENS_WEIGHT_GLSL
#if WTYPE == KL_WTYPE_F32
#define WT float
#define WLOAD(v) (v)
#elif WTYPE == KL_WTYPE_F16
#extension GL_EXT_shader_16bit_storage : require
#define WT float16_t
#define WLOAD(v) float(v)
#elif WTYPE == KL_WTYPE_BF16
#extension GL_EXT_shader_16bit_storage : require
#define WT uint16_t
#define WLOAD(v) uintBitsToFloat(uint(v) << 16)
#else
#error WTYPE must be 0 (F32), 1 (F16) or 2 (BF16)
#endif
#endif
