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
  int64_t rows, height, width, context_length, context_dim, pooled_dim, time_ids;
  c10::ScalarType dtype;
  bool operator<(const graph_key& o) const {
    return std::tie(rows, height, width, context_length, context_dim, pooled_dim, time_ids, dtype) <
           std::tie(o.rows, o.height, o.width, o.context_length, o.context_dim, o.pooled_dim,
                    o.time_ids, o.dtype);
  }
};

// The static buffers a graph reads (its inputs, `rows` rows of which are the call's) and writes.
struct captured_step {
  at::cuda::CUDAGraph graph;
  torch::Tensor sample, timesteps;
  conditioning condition;
  torch::Tensor output;

  // Copies a call's inputs into the first rows of the buffers.
  void fill(const torch::Tensor& call_sample, const torch::Tensor& call_timesteps,
            const conditioning& call_condition) {
    const int64_t rows = call_sample.size(0);
    sample.narrow(0, 0, rows).copy_(call_sample);
    timesteps.narrow(0, 0, rows).copy_(call_timesteps);
    auto inputs = condition.narrow(0, rows);
    inputs.context.copy_(call_condition.context);
    if (inputs.pooled.defined()) inputs.pooled.copy_(call_condition.pooled);
    if (inputs.time_ids.defined()) inputs.time_ids.copy_(call_condition.time_ids);
  }
};

int64_t width_of(const torch::Tensor& t) { return t.defined() ? t.size(1) : 0; }

// Zeros shaped like `t` with `rows` rows; undefined when `t` is.
torch::Tensor rows_like(const torch::Tensor& t, int64_t rows) {
  if (!t.defined()) return {};
  auto sizes = t.sizes().vec();
  sizes[0] = rows;
  return torch::zeros(sizes, t.options());
}

class graph_cache {
 public:
  explicit graph_cache(unet_model unet) : unet_(std::move(unet)) {}

  torch::Tensor operator()(const torch::Tensor& sample, const torch::Tensor& timesteps,
                           const conditioning& condition) {
    const int64_t rows = sample.size(0);
    const int64_t bucket = bucket_for(rows);
    const auto& context = condition.context;
    if (bucket == 0 || sample.dim() != 4 || context.dim() != 3 || timesteps.dim() != 1 ||
        timesteps.size(0) != rows || condition.rows() != rows ||
        (condition.pooled.defined() && condition.pooled.size(0) != rows) ||
        (condition.time_ids.defined() && condition.time_ids.size(0) != rows))
      return run_unet(*unet_, sample, timesteps, condition);
    const graph_key key{bucket,
                        sample.size(2),
                        sample.size(3),
                        context.size(1),
                        context.size(2),
                        width_of(condition.pooled),
                        width_of(condition.time_ids),
                        sample.scalar_type()};
    auto& step = steps_[key];
    if (!step) step = capture(key, sample, timesteps, condition);
    step->fill(sample, timesteps, condition);
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
                                         const conditioning& condition) {
    c10::cuda::CUDAGuard device(sample.device());
    auto step = std::make_unique<captured_step>();
    step->sample = torch::zeros({key.rows, sample.size(1), key.height, key.width}, sample.options())
                       .contiguous(unet_->activation_format());
    step->timesteps = torch::zeros({key.rows}, timesteps.options());
    step->condition.context = rows_like(condition.context, key.rows);
    step->condition.pooled = rows_like(condition.pooled, key.rows);
    step->condition.time_ids = rows_like(condition.time_ids, key.rows);
    step->fill(sample, timesteps, condition);
    torch::cuda::synchronize(sample.device().index());
    {
      // Capture needs a stream other than the default one; the warm-up runs there too.
      c10::cuda::CUDAStreamGuard on_side_stream(
          c10::cuda::getStreamFromPool(false, sample.device().index()));
      for (int i = 0; i < 2; ++i) run_unet(*unet_, step->sample, step->timesteps, step->condition);
      c10::cuda::getCurrentCUDAStream().synchronize();
      // Thread-local capture: other workers of this process may use the device meanwhile.
      step->graph.capture_begin(pool_, cudaStreamCaptureModeThreadLocal);
      step->output = run_unet(*unet_, step->sample, step->timesteps, step->condition);
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

denoiser graphed_unet(unet_model unet) {
  auto cache = std::make_shared<graph_cache>(std::move(unet));
  return [cache](const torch::Tensor& sample, const torch::Tensor& timesteps,
                 const conditioning& condition) { return (*cache)(sample, timesteps, condition); };
}

}  // namespace muse::model::cuda
