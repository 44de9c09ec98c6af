#pragma once
// LoRA updates applied beside the base weights, row by row of a call: y = W x + s * B (A x) for
// the rows whose sample uses that adapter, so samples with different LoRAs (or none) share one
// UNet call and the base weights are never changed. A `lora_call` says which rows of the call
// use which adapters and with what scale; `lora_scope` makes it the call's (thread-local); the
// layers that LoRAs may target (linear layers and 1x1 convolutions of the UNet and the text
// encoders) add `add_lora`'s update to their output. With no scope active, add_lora is not
// called: the plain path does one thread-local read per adaptable layer, nothing more.

#include <torch/torch.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace muse::model {

// One module's update in the model's dtype and device: y += s * up (down x). `up` already holds
// the file's alpha / rank.
struct lora_weights {
  torch::Tensor down;        // (rank, in)
  torch::Tensor up;          // (out, rank)
  bool convolution = false;  // a 1x1 Conv2d: x is (N, in, H, W)
};

// A loaded LoRA bound to one model's modules.
struct lora_adapter {
  std::string name;
  std::unordered_map<const torch::nn::Module*, lora_weights> modules;
  int64_t bytes = 0;  // of its tensors
};

// The adapters of one forward call. One adapter (on all rows or some): its update on those rows.
// Several: batched over the rows, whatever adapter each row has, in a few kernels per layer (two
// batched products per "slot", a row's n-th adapter), not a pass per adapter: rows take their
// adapter's matrices (zeros for a row without one), padded to the slot's largest rank.
class lora_call {
 public:
  // The adapters one row uses, with their scales.
  using row_adapters = std::vector<std::pair<std::shared_ptr<const lora_adapter>, double>>;

  // rows[i]: row i of the call (row 0 of its tensors' first dimension).
  lora_call(const std::vector<row_adapters>& rows, torch::Device device, torch::Dtype dtype);
  bool empty() const { return groups_.empty(); }

  // y (the layer's output for x) plus the update of every adapter that targets `layer`, on the
  // rows that use it.
  torch::Tensor apply(const torch::nn::Module& layer, const torch::Tensor& x,
                      torch::Tensor y) const;

 private:
  torch::Tensor apply_per_adapter(const torch::nn::Module& layer, const torch::Tensor& x,
                                  torch::Tensor y) const;
  torch::Tensor apply_batched(const torch::nn::Module& layer, const torch::Tensor& x,
                              torch::Tensor y) const;

  struct group {
    std::shared_ptr<const lora_adapter> adapter;
    bool all_rows = false;  // every row of the call: no gather, no scatter
    torch::Tensor rows;     // int64 row indices on the device (unless all_rows)
    torch::Tensor scales;   // (rows) in the model dtype; undefined when one scale serves all
    double scale = 1.0;
  };
  std::vector<group> groups_;
  // slots_[k][row]: the row's k-th adapter (nullptr: none) and its scale.
  std::vector<std::vector<std::pair<const lora_adapter*, double>>> slots_;
};

// Makes `call` the active one on this thread while the scope lives (nullptr: none).
class lora_scope {
 public:
  explicit lora_scope(const lora_call* call);
  ~lora_scope();
  lora_scope(const lora_scope&) = delete;
  lora_scope& operator=(const lora_scope&) = delete;

 private:
  const lora_call* previous_;
};

// The active call on this thread, or nullptr.
const lora_call* active_lora_call();

// `y`, the output of `layer` for `x`, plus the active call's update for that layer.
inline torch::Tensor add_lora(const torch::nn::Module& layer, const torch::Tensor& x,
                              torch::Tensor y) {
  const auto* call = active_lora_call();
  return call ? call->apply(layer, x, std::move(y)) : y;
}

}  // namespace muse::model
