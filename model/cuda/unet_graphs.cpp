#include "model/cuda/unet_graphs.hpp"

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <map>
#include <memory>
#include <tuple>

namespace muse::model::cuda {

namespace {

struct graph_key {
  int64_t rows, height, width, context_length, context_dim;
  c10::ScalarType dtype;
  bool operator<(const graph_key& o) const {
    return std::tie(rows, height, width, context_length, context_dim, dtype) <
           std::tie(o.rows, o.height, o.width, o.context_length, o.context_dim, o.dtype);
  }
};

struct captured_step {
  at::cuda::CUDAGraph graph;
  torch::Tensor sample, timesteps, context, output;  // static buffers the graph reads and writes
};

class graph_cache {
 public:
  explicit graph_cache(unet_model unet) : unet_(std::move(unet)) {}

  torch::Tensor operator()(const torch::Tensor& sample, const torch::Tensor& timesteps,
                           const torch::Tensor& context) {
    const int64_t rows = sample.size(0);
    const int64_t bucket = bucket_for(rows);
    if (bucket == 0 || sample.dim() != 4 || context.dim() != 3 || timesteps.dim() != 1 ||
        timesteps.size(0) != rows)
      return unet_->forward(sample, timesteps, context);
    const graph_key key{bucket,          sample.size(2),  sample.size(3),
                        context.size(1), context.size(2), sample.scalar_type()};
    auto& step = steps_[key];
    if (!step) step = capture(key, sample, timesteps, context);
    step->sample.narrow(0, 0, rows).copy_(sample);
    step->timesteps.narrow(0, 0, rows).copy_(timesteps);
    step->context.narrow(0, 0, rows).copy_(context);
    step->graph.replay();
    return step->output.narrow(0, 0, rows).clone();
  }

 private:
  static int64_t bucket_for(int64_t rows) {
    for (auto bucket : graph_row_buckets())
      if (rows <= bucket) return bucket;
    return 0;
  }

  std::unique_ptr<captured_step> capture(const graph_key& key, const torch::Tensor& sample,
                                         const torch::Tensor& timesteps,
                                         const torch::Tensor& context) {
    c10::cuda::CUDAGuard device(sample.device());
    auto step = std::make_unique<captured_step>();
    step->sample = torch::zeros({key.rows, sample.size(1), key.height, key.width}, sample.options())
                       .contiguous(unet_->activation_format());
    step->timesteps = torch::zeros({key.rows}, timesteps.options());
    step->context =
        torch::zeros({key.rows, key.context_length, key.context_dim}, context.options());
    const int64_t rows = sample.size(0);
    step->sample.narrow(0, 0, rows).copy_(sample);
    step->timesteps.narrow(0, 0, rows).copy_(timesteps);
    step->context.narrow(0, 0, rows).copy_(context);
    torch::cuda::synchronize(sample.device().index());
    {
      // Capture needs a stream other than the default one; the warm-up runs there too.
      c10::cuda::CUDAStreamGuard on_side_stream(
          c10::cuda::getStreamFromPool(false, sample.device().index()));
      for (int i = 0; i < 2; ++i) unet_->forward(step->sample, step->timesteps, step->context);
      c10::cuda::getCurrentCUDAStream().synchronize();
      // Thread-local capture: other workers of this process may use the device meanwhile.
      step->graph.capture_begin(pool_, cudaStreamCaptureModeThreadLocal);
      step->output = unet_->forward(step->sample, step->timesteps, step->context);
      step->graph.capture_end();
      c10::cuda::getCurrentCUDAStream().synchronize();
    }
    if (pool_ == at::cuda::MempoolId_t{0, 0}) pool_ = step->graph.pool();
    return step;
  }

  unet_model unet_;
  std::map<graph_key, std::unique_ptr<captured_step>> steps_;
  at::cuda::MempoolId_t pool_{0, 0};
};

}  // namespace

const std::vector<int64_t>& graph_row_buckets() {
  static const std::vector<int64_t> buckets = {1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64};
  return buckets;
}

unet_call graphed_unet(unet_model unet) {
  auto cache = std::make_shared<graph_cache>(std::move(unet));
  return [cache](const torch::Tensor& sample, const torch::Tensor& timesteps,
                 const torch::Tensor& context) { return (*cache)(sample, timesteps, context); };
}

}  // namespace muse::model::cuda
