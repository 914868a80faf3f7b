// Symmetric abs-max quantisation of linear weights (the lens's probes and the plans).
//
// A QuantSpec is a bit width (8 or 4; 3 or 2 for probes only) and a grouping along the input
// dimension K:
//   group 0        per output row ("channel", the paper):  scale = max(max|w_row|, 1e-5) / qmax
//                  stored as Q8_C / Q4_C with an F32 scale per row (Weight::scale);
//   group 32/64/128  per group of g inputs along a row:     d = max(max|w_group|, 1e-5) / qmax
//                  stored as Q8_0 / Q4_0 (ggml's block layout, FP16 d per 32 values).
// with qmax = 2^(b-1) - 1 (127 or 7) and q = clamp(round_half_even(w / scale), -2^(b-1), qmax),
// w' = q · scale, all in fp32 (the fixtures' formula).
//
// Groups of 64 and 128 are stored in the same 32-value ggml blocks: every block of a group
// carries the group's d. The values are then exactly those of a 64/128 grouping while every
// backend's Q8_0/Q4_0 kernels (and a GGUF export) read them unchanged; only the storage
// holds one redundant FP16 scale per 32 values. Sizes in plans use the nominal size of the
// format (bits · K + one FP16 scale per group), see weight_bytes().
//
// Grouped scales: d is rounded to FP16 first and q is computed against the stored d, so
// w' is the nearest point of the grid the file can actually hold (ggml instead divides by
// the unrounded d). Q4_0 nibbles are q + 8 with q ∈ [-8, 7]; symmetric abs-max only uses
// [-7, 7] (ggml's own Q4_0 uses d = signed max / -8; kllens keeps the paper's symmetric
// abs-max). A row whose length is not a multiple of the group ends in a shorter group
// (mamba-130m's dt_proj has K = 48).
//
// INT3 and INT2 (qmax 3 and 1: symmetric abs-max INT2 is ternary, q ∈ {-1, 0, 1}) exist for
// probing only, as fake quantisation: the same formula (per channel, or per group with the
// FP16-rounded d), w' = q · scale kept as an F32 weight. They have no storage type, so no plan,
// checkpoint or GGUF file holds them (QuantSpec::parse knows only q8 and q4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kllens/backend.h"

namespace kllens {

struct QuantSpec {
  int bits = 8;   // 8 or 4; 3 or 2 for probes only (fake quantisation, no storage type)
  int group = 0;  // 0 = per output channel; 32, 64 or 128 = per group of that many inputs

  // Q8_C / Q4_C for channel, Q8_0 / Q4_0 for groups; throws for the probe-only widths.
  DType storage() const;
  // Whether a weight of this width can be stored (8 and 4 bits); 3 and 2 are probe-only.
  bool storable() const { return bits == 8 || bits == 4; }
  int qmax() const { return (1 << (bits - 1)) - 1; }
  // "q8", "q4", "q8_g32", "q4_g128" ("q3", "q2_g32" for the probe-only widths).
  std::string name() const;
  // Parses name()'s spelling; throws on anything else.
  static QuantSpec parse(const std::string& s);
  // "channel" or the group size: the --group option's spelling.
  static int parse_group(const std::string& s);
  std::string group_name() const { return group == 0 ? "channel" : std::to_string(group); }
  // The spec a storage type means with its native grouping (Q8_0/Q4_0: 32).
  static QuantSpec from_dtype(DType t);
  void validate() const;
  bool operator==(const QuantSpec&) const = default;
};

// A quantised [N, K] matrix on the host, in a storage DType's byte layout.
struct HostQuant {
  DType type = DType::Q8_C;
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> data;  // rows × dtype_row_bytes(type, cols)
  std::vector<float> scale;   // [rows] for Q8_C / Q4_C, empty otherwise
};

// Quantises rows [r0, r1) of an F32 matrix w [N, K] (row stride `ld` floats) into `dst`
// (row j at j · dtype_row_bytes) and `scale` (per-channel types). The building block of
// every path below; rows are independent, so callers may split them across threads.
void quantize_rows(const float* w, int64_t ld, int64_t K, int64_t r0, int64_t r1, QuantSpec spec,
                   uint8_t* dst, float* scale);

// Whole-matrix host quantisation and its exact inverse (w' as F32 [N, K]).
HostQuant quantize(const float* w, int64_t N, int64_t K, QuantSpec spec);
std::vector<float> dequantize(const HostQuant& q);
// Fake quantisation: w' [N, K] in F32 straight from the formula, for every width validate()
// accepts (for 8 and 4 bits exactly dequantize(quantize(w)); 3 and 2 bits exist only this way).
std::vector<float> fake_quantize(const float* w, int64_t N, int64_t K, QuantSpec spec);

// Quantises a linear weight for `backend`: the backend's quantize_weight for channel and
// group 32 (the natively described types), the host path for groups of 64/128, and for the
// probe-only widths (3, 2 bits) fake_quantize's w' as an F32 weight (fake_quantize_weight).
Weight quantize_weight(Backend& backend, const Weight& src, QuantSpec spec);
// The host path: download (as F32), quantise, upload; bias shared with src.
Weight quantize_weight_host(Backend& backend, const Weight& src, QuantSpec spec);
// Download (as F32), fake_quantize, upload w' as an F32 weight; bias shared with src.
Weight fake_quantize_weight(Backend& backend, const Weight& src, QuantSpec spec);

// Nominal bytes of an [N, K] weight: F16 (no spec) = 2·N·K; quantised = N · (⌈K·bits/8⌉ + scales),
// scales = 4 bytes per row (channel, F32) or 2 bytes per group (FP16).
double weight_bytes(int64_t N, int64_t K, const std::optional<QuantSpec>& spec);

}  // namespace kllens
