// The integer dot products of the fast matmul (shaders/matmul_q8act.comp and
// matmul_q8act_gemm.comp), on words of four packed 8-bit lanes:
//   int dot_ss(uint a, uint b)  Σ_c signed a_c · signed b_c
//   int dot_su(uint a, uint b)  Σ_c signed a_c · unsigned b_c
// DOT=1: OpSDot / OpSUDot of VK_KHR_shader_integer_dot_product, through
// GL_EXT_spirv_intrinsics since Debian 12's glslang lacks GL_EXT_integer_dot_product;
// DOT=0: the same sums with plain integer multiply-adds, for devices without the feature.
// Both are exact.
#ifndef KLLENS_Q8ACT_DOT_GLSL
#define KLLENS_Q8ACT_DOT_GLSL

#if DOT
#extension GL_EXT_spirv_intrinsics : require
// OpSDot / OpSUDot (SPV_KHR_integer_dot_product), operands packed 4×8-bit.
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot_packed(uint a, uint b, spirv_literal int packed_format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4452)
int sudot_packed(uint a, uint b, spirv_literal int packed_format);
int dot_ss(uint a, uint b) { return sdot_packed(a, b, 0); }
int dot_su(uint a, uint b) { return sudot_packed(a, b, 0); }
#else
int dot_ss(uint a, uint b) {
  int t = 0;
  for (int c = 0; c < 4; ++c) t += bitfieldExtract(int(a), 8 * c, 8) * bitfieldExtract(int(b), 8 * c, 8);
  return t;
}
int dot_su(uint a, uint b) {
  int t = 0;
  for (int c = 0; c < 4; ++c) t += bitfieldExtract(int(a), 8 * c, 8) * int((b >> (8 * c)) & 0xffu);
  return t;
}
#endif

#endif
