#pragma once
// The model's settings as one struct: what to load and how to run it. The deployment config's
// `model` section holds them (cluster_config's model_config is these plus the request defaults),
// a worker's options carry them to its GPU node, and load_generator takes them: no copy field by
// field on the way. Includes nothing but the standard library, so cluster_config may use it
// without linking model/.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace muse::model {

// Every scheduler this code implements (model.scheduler, sample_request::scheduler), in the order
// scheduler_factory tries them. A loaded model may support fewer (scheduler_factory::names).
constexpr std::array<const char*, 6> scheduler_names = {
    "ddim", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras", "pndm"};

// A request's LoRAs (sample_request::loras; model/README.md, "LoRA"): at most this many per
// sample, scales within +-max_lora_scale, each named by a plain file name of model.lora_dir. The
// gateway checks them before queueing, the model again before loading.
constexpr size_t max_loras_per_sample = 8;
constexpr double max_lora_scale = 10.0;
// A plain file name: 1..200 of [A-Za-z0-9._-], not starting with '.' (no path, no hidden file).
inline bool is_lora_name(const std::string& name) {
  bool plain = !name.empty() && name.size() <= 200 && name.front() != '.';
  for (char c : name)
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-');
  return plain;
}

// How a pipeline runs on a CUDA device (ignored on the CPU). Each switch exists to measure what it
// is worth and to check the fast path against the plain one; all are on by default.
struct cuda_engine_options {
  bool graphs = true;         // replay the UNet step as CUDA graphs (model.cuda_graphs)
  bool channels_last = true;  // NHWC convolution weights and activations
  bool fused_kernels = true;  // model/cuda kernels (group/layer norm, GEGLU), packed q/k/v
};

struct model_settings {
  std::string type = "diffusion";  // or "benchmark_zero_compute": no model, blank images at once
  std::string path;                // a diffusers-layout directory or a single-file .safetensors
  // For a single file: the diffusers-layout directory whose model_index.json, */config.json,
  // tokenizer/ and scheduler/ describe it ("" = the file's own directory).
  std::string config_dir;
  std::string dtype = "float32";   // float32 | float16 | bfloat16
  std::string scheduler = "ddim";  // default scheduler
  int32_t intra_op_threads = 0;    // libtorch CPU threads (process-wide); 0 = one per core
  cuda_engine_options cuda;
  // Working memory one UNet call or VAE decode may take (MB); 0 = memory_budget_bytes' default,
  // shared by the workers of the device.
  int64_t memory_budget_mb = 0;
  // The folder of LoRA files (NAME.safetensors) requests may name; "" = LoRAs are refused.
  std::string lora_dir;
  // Bytes of loaded LoRAs kept in memory (MB), least recently used dropped first.
  int64_t lora_cache_mb = 1024;
};

// The fields in the order they cross the wire to a GPU node. Generic over the inspector (CAF's
// serializers use it through actors/messages.hpp) so that this header needs no CAF; a new field is
// added here and to the struct above, nowhere else on the way to the generator.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cuda_engine_options& x) {
  return f(x.graphs, x.channels_last, x.fused_kernels);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_settings& x) {
  return f(x.type, x.path, x.config_dir, x.dtype, x.scheduler, x.intra_op_threads, x.cuda,
           x.memory_budget_mb, x.lora_dir, x.lora_cache_mb);
}

}  // namespace muse::model
