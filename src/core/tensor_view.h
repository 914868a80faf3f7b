// Views of a tensor's bytes under another element type: the one checked way to make a
// view that the slices and reshapes of Tensor (kllens/tensor.h) cannot, instead of editing
// a tensor's offset, dtype, shape or stride by hand.
#pragma once

#include "kllens/tensor.h"

namespace kllens {

// Bytes of the contiguous tensor `src` from byte_offset on, as a contiguous tensor of
// element type `dtype` and shape `shape` (any tensor's bytes as 32-bit words, say);
// throws unless they lie within src's bytes.
Tensor view_as(const Tensor& src, size_t byte_offset, DType dtype, Shape shape);

}  // namespace kllens
