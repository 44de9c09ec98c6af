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
  for (size_t row = 0; row < rows.size(); ++row) {
    size_t k = 0;
    for (const auto& [adapter, scale] : rows[row]) {
      if (!adapter) continue;
      if (slots_.size() <= k)
        slots_.emplace_back(rows.size(), std::pair<const lora_adapter*, double>{nullptr, 0.0});
      slots_[k++][row] = {adapter.get(), scale};
    }
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
  const bool rows_match = !slots_.empty() && x.size(0) == int64_t(slots_.front().size());
  return groups_.size() > 1 && rows_match ? apply_batched(layer, x, std::move(y))
                                          : apply_per_adapter(layer, x, std::move(y));
}

torch::Tensor lora_call::apply_batched(const torch::nn::Module& layer, const torch::Tensor& x,
                                       torch::Tensor y) const {
  const int64_t rows = x.size(0);
  for (const auto& slot : slots_) {
    std::vector<const lora_weights*> weights;
    int64_t rank = 0;
    const lora_weights* any = nullptr;
    for (const auto& [adapter, scale] : slot) {
      const lora_weights* w = nullptr;
      if (adapter) {
        const auto found = adapter->modules.find(&layer);
        if (found != adapter->modules.end()) w = &found->second;
      }
      if (w) rank = std::max(rank, w->down.size(0)), any = w;
      weights.push_back(w);
    }
    if (!any) continue;
    const int64_t in = any->down.size(1), out = any->up.size(0);
    std::vector<torch::Tensor> downs, ups;
    std::vector<double> scales;
    for (size_t row = 0; row < weights.size(); ++row) {
      const lora_weights* w = weights[row];
      if (!w) {
        downs.push_back(torch::zeros({rank, in}, any->down.options()));
        ups.push_back(torch::zeros({out, rank}, any->up.options()));
        scales.push_back(0.0);
        continue;
      }
      const int64_t missing = rank - w->down.size(0);
      downs.push_back(missing ? torch::constant_pad_nd(w->down, {0, 0, 0, missing}) : w->down);
      ups.push_back(missing ? torch::constant_pad_nd(w->up, {0, missing}) : w->up);
      scales.push_back(slot[row].second);
    }
    const auto scale = torch::tensor(scales, torch::kFloat64).to(any->up.device(), any->up.dtype());
    const auto down = torch::stack(downs);                         // (rows, rank, in)
    const auto up = torch::stack(ups) * scale.view({rows, 1, 1});  // (rows, out, rank)
    if (any->convolution) {
      // (N, in, H, W) as (N, H*W, in): a view when x is channels_last, as the engine keeps it.
      const auto flat = x.permute({0, 2, 3, 1}).reshape({rows, -1, in});
      const auto update = torch::bmm(torch::bmm(flat, down.transpose(1, 2)), up.transpose(1, 2));
      y = y + update.view({rows, x.size(2), x.size(3), out}).permute({0, 3, 1, 2});
    } else {
      const auto flat = x.reshape({rows, -1, in});
      const auto update = torch::bmm(torch::bmm(flat, down.transpose(1, 2)), up.transpose(1, 2));
      y = y + update.view(y.sizes());
    }
  }
  return y;
}

torch::Tensor lora_call::apply_per_adapter(const torch::nn::Module& layer, const torch::Tensor& x,
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
