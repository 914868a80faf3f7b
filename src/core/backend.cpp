// Backend defaults shared by every implementation.
#include "kllens/backend.h"

namespace kllens {

Tensor Backend::import_host(std::shared_ptr<const void> /*owner*/, const void* data,
                            DType dtype, const Shape& shape) {
  Tensor t = alloc(dtype, shape);
  upload(t, data);
  return t;
}

}  // namespace kllens
