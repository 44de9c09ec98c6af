#pragma once
// A trace of what the CPU and the GPU ran between start and stop, written as the Chrome trace JSON
// that torch.profiler writes too, so that one script (tools/bench/profile_table.py) reads the
// C++ pipeline's and diffusers' traces alike. Needs a build against a CUDA libtorch.

#include <string>

namespace muse::model {

// Throws model_error where this build cannot trace the GPU.
void start_gpu_trace();
void stop_gpu_trace(const std::string& path);

}  // namespace muse::model
