#include "model/cuda/device_memory.hpp"

#include <ATen/cuda/CUDAContext.h>

namespace muse::model::cuda {

int64_t total_memory_bytes(int index) {
  return int64_t(at::cuda::getDeviceProperties(index)->totalGlobalMem);
}

}  // namespace muse::model::cuda
