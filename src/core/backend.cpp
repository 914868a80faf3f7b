// Backend defaults shared by every implementation.
#include "kllens/backend.h"

#include "kllens/error.h"
#include "kllens/quant.h"

namespace kllens {

Tensor Backend::import_host(std::shared_ptr<const void> /*owner*/, const void* data,
                            DType dtype, const Shape& shape) {
  Tensor t = alloc(dtype, shape);
  upload(t, data);
  return t;
}

// Ops a backend has not implemented yet fail loudly, naming the op and the backend.
std::string_view matmul_mode_name(MatmulMode m) {
  return m == MatmulMode::fast ? "fast" : "exact";
}

#define KLLENS_UNSUPPORTED(op) fail("op {} is not implemented on the {} backend", op, name())

void Backend::ssd_scan(const SsdScanArgs&) { KLLENS_UNSUPPORTED("ssd_scan"); }
void Backend::rms_norm_gated(const Tensor&, const Tensor&, const Tensor&, int64_t, float,
                             const Tensor&) {
  KLLENS_UNSUPPORTED("rms_norm_gated");
}
void Backend::rope(const Tensor&, const Tensor&, int64_t, int64_t, int64_t, int64_t, int64_t) {
  KLLENS_UNSUPPORTED("rope");
}
void Backend::attention(const AttentionArgs&) { KLLENS_UNSUPPORTED("attention"); }
void Backend::silu_mul(const Tensor&, const Tensor&, const Tensor&) { KLLENS_UNSUPPORTED("silu_mul"); }
void Backend::kl_reduce(const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  KLLENS_UNSUPPORTED("kl_reduce");
}
void Backend::argmax(const Tensor&, const Tensor&) { KLLENS_UNSUPPORTED("argmax"); }

#undef KLLENS_UNSUPPORTED

// Download, quantise on the host (src/quant), upload: correct on every backend; a backend
// may override it to quantise on the device.
Weight Backend::quantize_weight(const Weight& src, DType type) {
  return quantize_weight_host(*this, src, QuantSpec::from_dtype(type));
}

}  // namespace kllens
