#include "model/profiling.hpp"

#include "model/generator.hpp"

#if MUSE_WITH_CUDA
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

namespace muse::model {

#if MUSE_WITH_CUDA

namespace {
namespace impl = torch::profiler::impl;
const impl::ProfilerConfig trace_config{impl::ProfilerState::KINETO};
const std::set<impl::ActivityType> traced{impl::ActivityType::CPU, impl::ActivityType::CUDA};
}  // namespace

void start_gpu_trace() {
  torch::autograd::profiler::prepareProfiler(trace_config, traced);
  torch::autograd::profiler::enableProfiler(trace_config, traced);
}

void stop_gpu_trace(const std::string& path) {
  torch::autograd::profiler::disableProfiler()->save(path);
}

#else

void start_gpu_trace() { throw model_error("GPU traces need a build against a CUDA libtorch"); }
void stop_gpu_trace(const std::string&) {
  throw model_error("GPU traces need a build against a CUDA libtorch");
}

#endif

}  // namespace muse::model
