#include "model/networks/lora.hpp"

#include <algorithm>
#include <map>

namespace muse::model {

namespace {

thread_local const lora_call* active_call = nullptr;

}  // namespace

lora_call::lora_call(const std::vector<row_adapters>& rows, torch::Device device,
                     torch::Dtype dtype) {
  // adapter -> (row -> scale); one adapter named twice for a row adds its scales.
  std::map<const lora_adapter*, std::map<int64_t, double>> uses;
  std::map<const lora_adapter*, std::shared_ptr<const lora_adapter>> owners;
  for (size_t row = 0; row < rows.size(); ++row)
    for (const auto& [adapter, scale] : rows[row]) {
      if (!adapter) continue;
      uses[adapter.get()][static_cast<int64_t>(row)] += scale;
      owners[adapter.get()] = adapter;
    }
  for (const auto& [adapter, by_row] : uses) {
    group g;
    g.adapter = owners[adapter];
    std::vector<int64_t> indices;
    std::vector<double> scales;
    for (const auto& [row, scale] : by_row) {
      indices.push_back(row);
      scales.push_back(scale);
    }
    g.all_rows = indices.size() == rows.size();
    if (!g.all_rows) g.rows = torch::tensor(indices, torch::kLong).to(device);
    const bool uniform =
        std::all_of(scales.begin(), scales.end(), [&](double s) { return s == scales.front(); });
    if (uniform)
      g.scale = scales.front();
    else
      g.scales = torch::tensor(scales, torch::kFloat64).to(device, dtype);
    groups_.push_back(std::move(g));
  }
}

torch::Tensor lora_call::apply(const torch::nn::Module& layer, const torch::Tensor& x,
                               torch::Tensor y) const {
  for (const auto& g : groups_) {
    const auto found = g.adapter->modules.find(&layer);
    if (found == g.adapter->modules.end()) continue;
    const auto& w = found->second;
    const auto input = g.all_rows ? x : x.index_select(0, g.rows);
    torch::Tensor update;
    if (w.convolution) {
      const auto rank = w.down.size(0);
      update = torch::conv2d(torch::conv2d(input, w.down.view({rank, w.down.size(1), 1, 1})),
                             w.up.view({w.up.size(0), rank, 1, 1}));
    } else {
      update = torch::linear(torch::linear(input, w.down), w.up);
    }
    if (g.scales.defined()) {
      std::vector<int64_t> shape(static_cast<size_t>(update.dim()), 1);
      shape[0] = -1;
      update = update * g.scales.view(shape);
    } else if (g.scale != 1.0) {
      update = update * g.scale;
    }
    y = g.all_rows ? y + update : y.index_add(0, g.rows, update);
  }
  return y;
}

lora_scope::lora_scope(const lora_call* call) : previous_(active_call) {
  active_call = call && !call->empty() ? call : nullptr;
}

lora_scope::~lora_scope() { active_call = previous_; }

const lora_call* active_lora_call() { return active_call; }

}  // namespace muse::model
