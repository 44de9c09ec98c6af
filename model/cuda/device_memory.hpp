#pragma once
// What a CUDA device has, read from the CUDA runtime through libtorch.

#include <cstdint>

namespace muse::model::cuda {

// The total memory of CUDA device `index`, in bytes.
int64_t total_memory_bytes(int index);

}  // namespace muse::model::cuda
