#include "model/pipeline.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "model/formats/model_dir.hpp"
#include "model/formats/single_file.hpp"
#include "model/networks/fused_ops.hpp"

#if MUSE_WITH_CUDA
#include "model/cuda/device_memory.hpp"
#include "model/cuda/unet_graphs.hpp"
#endif

namespace muse::model {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

// Waits for queued device work so stage timings mean something on CUDA.
void synchronize(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// model_index.json names each component's library and class; only what this code runs is accepted.
void check_model_index(const nlohmann::json& index, const std::string& path, architecture family) {
  if (!index.is_object()) throw model_error(path + ": model_index.json is not an object");
  const std::vector<std::string> tokenizers = {"CLIPTokenizer", "CLIPTokenizerFast"};
  std::map<std::string, std::vector<std::string>> expected = {
      {"tokenizer", tokenizers},
      {"text_encoder", {"CLIPTextModel"}},
      {"unet", {"UNet2DConditionModel"}},
      {"vae", {"AutoencoderKL"}},
      {"scheduler", {}},
  };
  if (family == architecture::sdxl) {
    expected["tokenizer_2"] = tokenizers;
    expected["text_encoder_2"] = {"CLIPTextModelWithProjection"};
  }
  for (const auto& [component, classes] : expected) {
    if (!index.contains(component))
      throw model_error(path + ": model_index.json lacks '" + component + "'");
    const auto& entry = index.at(component);
    if (!entry.is_array() || entry.size() != 2 || !entry[1].is_string())
      throw model_error(path + ": model_index.json '" + component + "' must be [library, class]");
    const auto cls = entry[1].get<std::string>();
    if (!classes.empty() && std::find(classes.begin(), classes.end(), cls) == classes.end())
      throw model_error(path + ": unsupported " + component + " class '" + cls + "'");
  }
  // Components that do not take part in generation may be present, and the pipelines' flags
  // (force_zeros_for_empty_prompt is read by the conditioner).
  const std::vector<std::string> ignorable = {"safety_checker", "feature_extractor",
                                              "image_encoder", "requires_safety_checker",
                                              "force_zeros_for_empty_prompt"};
  for (const auto& [key, value] : index.items()) {
    if (key.empty() || key[0] == '_' || expected.count(key)) continue;
    if (std::find(ignorable.begin(), ignorable.end(), key) != ignorable.end()) continue;
    if (value.is_array() && value.size() == 2 && value[0].is_null()) continue;
    throw model_error(path + ": unsupported pipeline component '" + key + "' in model_index.json");
  }
}

// What the memory estimate needs of the architecture.
memory_architecture describe_memory(const unet_config& unet, const vae_config& vae, int text_length,
                                    torch::Dtype dtype) {
  memory_architecture a;
  a.vae_factor = 1 << (static_cast<int>(vae.block_out_channels.size()) - 1);
  a.latent_channels = vae.latent_channels;
  for (size_t i = 0; i < unet.block_out_channels.size(); ++i) {
    memory_architecture::unet_level level;
    level.channels = unet.block_out_channels[i];
    level.layers = unet.layers_per_block[i];
    level.attention =
        unet.down_block_types[i] == "CrossAttnDownBlock2D" ||
        unet.up_block_types[unet.up_block_types.size() - 1 - i] == "CrossAttnUpBlock2D";
    level.heads = unet.attention_heads[i];
    level.transformer_layers = unet.transformer_layers_per_block[i];
    a.unet_levels.push_back(level);
  }
  a.text_length = text_length;
  a.vae_channels = vae.block_out_channels;
  a.vae_layers_per_block = vae.layers_per_block;
  a.vae_mid_attention = vae.mid_block_add_attention;
  a.dtype_bytes = static_cast<int>(torch::elementSize(dtype));
  return a;
}

// The side of the largest square of `multiple`s within `pixels`.
int64_t largest_square(int64_t pixels, int64_t multiple) {
  auto side = int64_t(std::sqrt(double(pixels))) / multiple * multiple;
  while (side * side > pixels) side -= multiple;
  return side;
}

}  // namespace

void set_cpu_threads(int requested) {
  if (requested < 0)
    throw model_error("CPU threads must be >= 0, got " + std::to_string(requested));
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(requested > 0 ? requested : std::max(cores, 1));
}

std::shared_ptr<pipeline> pipeline::load(const std::string& path, const std::string& device,
                                         const std::string& dtype,
                                         const std::string& default_scheduler,
                                         const std::string& config_dir,
                                         const cuda_engine_options& cuda) {
  torch::NoGradGuard no_grad;
  std::shared_ptr<pipeline> p(new pipeline(parse_device(device), parse_dtype(dtype)));
  const bool single_file = ends_with(path, ".safetensors");
  if (!single_file && !is_directory(path))
    throw model_error("model path " + path + " is neither a directory nor a .safetensors file");
  if (single_file && !path_exists(path))
    throw model_error("model file " + path + " does not exist");
  if (!single_file && !config_dir.empty() && config_dir != path)
    throw model_error("a config directory applies to single-file checkpoints only");
  const std::string dir = single_file ? (config_dir.empty() ? parent_dir(path) : config_dir) : path;
  p->name_ = base_name(single_file ? path.substr(0, path.size() - 12) : path);
  const auto index_path = dir + "/model_index.json";
  if (!path_exists(index_path))
    throw model_error(dir + ": no model_index.json" +
                      std::string(single_file
                                      ? " (a single file needs the diffusers configs of its model)"
                                      : ""));
  p->family_ = detect_model_architecture(path, config_dir);
  check_model_index(read_json_file(index_path), dir, p->family_);

  const auto unet_config_json = read_json_file(dir + "/unet/config.json");
  const auto vae_config_json = read_json_file(dir + "/vae/config.json");
  // diffusers' SDXL pipelines decode (and encode) in float32 when the VAE overflows in float16
  // (force_upcast); SD 1/2 pipelines never read the flag.
  const auto vae_dtype =
      p->family_ == architecture::sdxl && vae_config::from_json(vae_config_json).upcasts(p->dtype_)
          ? torch::kFloat32
          : p->dtype_;
  if (single_file) {
    const auto text_config = read_json_file(dir + "/text_encoder/config.json");
    const auto layers = text_encoder_config::from_json(text_config).num_hidden_layers;
    auto parts = load_single_file(path, static_cast<int>(layers));
    p->conditioner_ = load_conditioner(
        dir, parts.text_encoder, p->family_ == architecture::sdxl ? &parts.text_encoder_2 : nullptr,
        p->device_, p->dtype_);
    p->unet_ = load_unet(unet_config_json, parts.unet, p->device_, p->dtype_);
    p->vae_ = load_vae(vae_config_json, parts.vae, p->device_, vae_dtype);
  } else {
    p->conditioner_ = load_conditioner(dir, p->device_, p->dtype_);
    p->unet_ = load_unet(dir + "/unet", p->device_, p->dtype_);
    p->vae_ = load_vae(dir + "/vae", p->device_, vae_dtype);
  }
  const auto scheduler_path = dir + "/scheduler/scheduler_config.json";
  p->schedulers_ =
      std::make_unique<scheduler_factory>(read_json_file(scheduler_path), default_scheduler);

  const auto& unet = p->unet_->config();
  if (unet.in_channels != p->vae_->latent_channels())
    throw model_error("unet in_channels (" + std::to_string(unet.in_channels) +
                      ") != vae latent_channels (" + std::to_string(p->vae_->latent_channels()) +
                      ")");
  if (p->conditioner_->context_dim() != unet.cross_attention_dim.front())
    throw model_error(
        "the text encoders' hidden size (" + std::to_string(p->conditioner_->context_dim()) +
        ") != unet cross_attention_dim (" + std::to_string(unet.cross_attention_dim.front()) + ")");
  if (unet.text_time() && p->conditioner_->pooled_dim() != unet.text_embeds_dim())
    throw model_error("text_encoder_2's projection_dim (" +
                      std::to_string(p->conditioner_->pooled_dim()) +
                      ") != the unet's pooled text width (projection_class_embeddings_input_dim " +
                      std::to_string(unet.projection_class_embeddings_input_dim) + " - 6 x " +
                      std::to_string(unet.addition_time_embed_dim) + ")");

  auto& limits = p->limits_;
  const int factor = p->vae_->downscale_factor();
  limits.size_multiple = factor * (1 << unet.downsamplings());
  limits.min_size = limits.size_multiple;
  const int native = unet.sample_size * factor;
  limits.default_width = limits.default_height = std::max(limits.size_multiple, native);
  limits.max_size = std::max(1024, 2 * native) / limits.size_multiple * limits.size_multiple;
  limits.max_pixels = int64_t(limits.max_size) * limits.max_size;
  limits.max_steps = 150;
  limits.schedulers = p->schedulers_->names();
  p->memory_shape_ =
      describe_memory(unet, p->vae_->config(), p->conditioner_->max_length(), p->dtype_);

  p->denoise_ = p->eager_ = eager_denoiser(p->unet_);
  if (p->device_.is_cuda()) p->prepare_cuda(cuda);
  return p;
}

void pipeline::prepare_cuda(const cuda_engine_options& options) {
  torch::NoGradGuard no_grad;
  // Convolution shapes repeat every step: let cuDNN time its algorithms once per shape.
  at::globalContext().setBenchmarkCuDNN(true);
  // float32 is asked for precision: no TF32 convolutions (libtorch's default allows them).
  if (dtype_ == torch::kFloat32) at::globalContext().setAllowTF32CuDNN(false);
  fused_kernels_ = options.fused_kernels;
  if (options.fused_kernels) fuse_weights(*unet_);
  if (options.channels_last) {
    use_channels_last(*unet_);
    use_channels_last(*vae_);
  }
#if MUSE_WITH_CUDA
  if (options.graphs) denoise_ = cuda::graphed_unet(unet_);
#else
  if (options.graphs) throw model_error("CUDA graphs need a build against a CUDA libtorch");
#endif
}

void pipeline::set_lora_library(const std::string& dir, int64_t cache_bytes) {
  lora_components components{{"unet", unet_.get()}};
  auto encoders = conditioner_->encoders();
  components["text_encoder"] = encoders.at(0).get();
  if (encoders.size() > 1) components["text_encoder_2"] = encoders.at(1).get();
  loras_ = std::make_unique<lora_library>(dir, cache_bytes, components, device_, dtype_);
}

device_memory pipeline::memory() const {
  device_memory memory;
  std::vector<const torch::nn::Module*> modules = {unet_.get(), vae_.get()};
  for (const auto& encoder : conditioner_->encoders()) modules.push_back(encoder.get());
  for (const auto* module : modules) {
    for (const auto& tensor : module->parameters()) memory.weights_bytes += tensor.nbytes();
    for (const auto& tensor : module->buffers()) memory.weights_bytes += tensor.nbytes();
  }
  memory.host = device_.is_cpu();
#if MUSE_WITH_CUDA
  if (device_.is_cuda()) {
    memory.total_bytes = cuda::total_memory_bytes(device_.has_index() ? device_.index() : 0);
    return memory;
  }
#endif
  memory.total_bytes = host_memory_bytes();
  return memory;
}

void pipeline::set_memory_budget(int64_t budget_bytes) {
  const int64_t structural = int64_t(limits_.max_size) * limits_.max_size;
  const int64_t fitting = max_fitting_pixels(memory_shape_, budget_bytes, structural);
  const int64_t smallest = int64_t(limits_.min_size) * limits_.min_size;
  if (fitting < smallest)
    throw model_error("a memory budget of " + std::to_string(bytes_to_mb(budget_bytes)) +
                      " MB fits no image: the smallest, " + std::to_string(limits_.min_size) + "x" +
                      std::to_string(limits_.min_size) + ", needs ~" +
                      std::to_string(bytes_to_mb(
                          sample_memory_bytes(memory_shape_, limits_.min_size, limits_.min_size))) +
                      " MB");
  memory_budget_ = budget_bytes;
  limits_.memory_budget_mb = budget_bytes >> 20;
  limits_.max_pixels = fitting;
  const int multiple = limits_.size_multiple;
  const auto longest = fitting / limits_.min_size / multiple * multiple;
  limits_.max_size = int(std::min<int64_t>(limits_.max_size, longest));
  // The default size shrinks to the largest square that fits.
  if (int64_t(limits_.default_width) * limits_.default_height > fitting)
    limits_.default_width = limits_.default_height =
        int(std::max<int64_t>(largest_square(fitting, multiple), limits_.min_size));
}

void pipeline::validate(const sample_request& r) const {
  auto check_size = [&](int value, const char* what) {
    if (value < limits_.min_size || value > limits_.max_size || value % limits_.size_multiple != 0)
      throw model_error(std::string(what) + " must be a multiple of " +
                        std::to_string(limits_.size_multiple) + " in " +
                        std::to_string(limits_.min_size) + ".." + std::to_string(limits_.max_size) +
                        ", got " + std::to_string(value));
  };
  check_size(r.width, "width");
  check_size(r.height, "height");
  if (int64_t(r.width) * r.height > limits_.max_pixels)
    throw model_error(
        "width x height " + std::to_string(r.width) + "x" + std::to_string(r.height) + " needs ~" +
        std::to_string(bytes_to_mb(sample_memory_bytes(memory_shape_, r.width, r.height))) +
        " MB, over the worker's memory budget of " + std::to_string(limits_.memory_budget_mb) +
        " MB; at most " + std::to_string(limits_.max_pixels) + " pixels fit (the largest square: " +
        std::to_string(largest_square(limits_.max_pixels, limits_.size_multiple)) + ")");
  if (r.steps < 1 || r.steps > limits_.max_steps)
    throw model_error("steps must be 1.." + std::to_string(limits_.max_steps) + ", got " +
                      std::to_string(r.steps));
  if (!std::isfinite(r.guidance_scale) || r.guidance_scale < 0 || r.guidance_scale > 100)
    throw model_error("guidance_scale must be in 0..100");
  if (r.original_width < 0 || r.original_height < 0 || r.crop_top < 0 || r.crop_left < 0)
    throw model_error("original size and crop coordinates must be >= 0");
  check_image_to_image(r);
  check_lora_uses(r.loras);
  if (!r.loras.empty() && !loras_)
    throw model_error("LoRA '" + r.loras.front().name + "': this model has no LoRA folder");
}

conditioning pipeline::encode(const std::vector<text_prompt>& prompts) {
  c10::InferenceMode inference;
  fused_kernels_scope fused(fused_kernels_);
  const auto start = clock_type::now();
  auto encoded = conditioner_->encode(prompts);
  synchronize(device_);
  timings_.encode_ms = ms_since(start);
  return encoded;
}

conditioning pipeline::encode_with_loras(const std::vector<text_prompt>& prompts,
                                         const std::vector<size_t>& owner,
                                         const std::vector<lora_call::row_adapters>& adapters) {
  bool any = false;
  for (const auto& a : adapters) any = any || !a.empty();
  if (!any) return encode(prompts);
  // The text encoders see one LoRA set per call: the prompts of requests with the same LoRAs
  // (names and scales) are encoded together, every row with that set.
  std::map<std::vector<std::pair<const lora_adapter*, double>>, std::vector<size_t>> by_set;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<std::pair<const lora_adapter*, double>> key;
    for (const auto& [adapter, scale] : adapters[owner[i]]) key.emplace_back(adapter.get(), scale);
    by_set[key].push_back(i);
  }
  std::vector<conditioning> rows(prompts.size());
  for (const auto& [key, members] : by_set) {
    std::vector<text_prompt> part;
    for (auto i : members) part.push_back(prompts[i]);
    const auto& set = adapters[owner[members.front()]];
    std::unique_ptr<lora_call> call;
    if (!set.empty())
      call =
          std::make_unique<lora_call>(std::vector<lora_call::row_adapters>{set}, device_, dtype_);
    lora_scope scope(call.get());
    const auto encoded = encode(part);
    for (size_t k = 0; k < members.size(); ++k)
      rows[members[k]] = encoded.narrow(static_cast<int64_t>(k), 1);
  }
  return conditioning::cat(rows);
}

std::vector<sample_state> pipeline::start(const std::vector<sample_request>& requests) {
  c10::InferenceMode inference;
  std::vector<std::unique_ptr<scheduler>> schedules;
  for (const auto& r : requests) {
    validate(r);
    schedules.push_back(schedulers_->make(r.scheduler, r.steps));
    if (r.starts_from_image())
      schedules.back()->begin_at(cut_by_strength(r.steps, r.strength).skipped_steps *
                                 schedules.back()->order());
  }
  // The prompts, then the negative prompts of the samples with guidance.
  std::vector<text_prompt> prompts;
  const auto prompt_of = [](const sample_request& r, bool negative) {
    text_prompt p;
    p.text = negative ? r.negative_prompt : r.prompt;
    p.negative = negative;
    p.size = size_conditioning::of_image(r.height, r.width);
    if (r.original_width > 0) p.size.original_width = r.original_width;
    if (r.original_height > 0) p.size.original_height = r.original_height;
    p.size.crop_top = r.crop_top;
    p.size.crop_left = r.crop_left;
    return p;
  };
  // Each request's LoRAs, loaded (or found in the cache) before any work.
  std::vector<lora_call::row_adapters> adapters;
  for (const auto& r : requests) {
    adapters.emplace_back();
    for (const auto& use : r.loras) adapters.back().emplace_back(loras_->get(use.name), use.scale);
  }
  std::vector<size_t> owner;  // the request of each prompt
  for (size_t i = 0; i < requests.size(); ++i) {
    prompts.push_back(prompt_of(requests[i], false));
    owner.push_back(i);
  }
  for (size_t i = 0; i < requests.size(); ++i)
    if (requests[i].guidance_scale > 1.0f) {
      prompts.push_back(prompt_of(requests[i], true));
      owner.push_back(i);
    }
  const auto encoded = encode_with_loras(prompts, owner, adapters);

  std::vector<sample_state> samples;
  int64_t negative_row = static_cast<int64_t>(requests.size());
  const int factor = vae_->downscale_factor();
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    sample_state s;
    s.width = r.width;
    s.height = r.height;
    s.guidance_scale = r.guidance_scale;
    s.schedule = std::move(schedules[i]);
    s.cond = encoded.narrow(static_cast<int64_t>(i), 1);
    if (s.uses_guidance()) s.uncond = encoded.narrow(negative_row++, 1);
    s.loras = adapters[i];
    s.preview_every = std::max(0, r.preview_every);
    s.noise = at::detail::createCPUGenerator(r.seed);
    if (r.starts_from_image()) {
      s.latents = noised_image_latents(r, *s.schedule, s.noise);
    } else {
      // diffusers' prepare_latents: randn on a CPU generator in the model dtype (a half-precision
      // draw is not a rounded float32 one), then to the device.
      auto noise = torch::randn({1, vae_->latent_channels(), r.height / factor, r.width / factor},
                                s.noise, torch::TensorOptions().dtype(dtype_));
      s.latents = noise.to(device_, torch::kFloat32) * s.schedule->init_noise_sigma();
    }
    s.schedule->draw_noise_in(dtype_);
    samples.push_back(std::move(s));
  }
  return samples;
}

void pipeline::step(const std::vector<sample_state*>& batch) {
  c10::InferenceMode inference;
  fused_kernels_scope fused(fused_kernels_);
  const auto start = clock_type::now();
  // One UNet call per latent size: rows of different sizes cannot share a tensor.
  std::map<std::pair<int, int>, std::vector<sample_state*>> groups;
  for (auto* s : batch)
    if (!s->finished()) groups[{s->height, s->width}].push_back(s);
  for (auto& [size, group] : groups) {
    std::vector<torch::Tensor> inputs;
    std::vector<conditioning> rows;
    std::vector<float> timesteps;
    std::vector<lora_call::row_adapters> row_loras;
    bool any_lora = false;
    for (auto* s : group) {
      const auto scaled = s->schedule->scale_model_input(s->latents);
      const auto t = static_cast<float>(s->schedule->timestep());
      if (s->uses_guidance()) {
        inputs.push_back(scaled);
        rows.push_back(s->uncond);
        timesteps.push_back(t);
        row_loras.push_back(s->loras);
      }
      inputs.push_back(scaled);
      rows.push_back(s->cond);
      timesteps.push_back(t);
      row_loras.push_back(s->loras);
      any_lora = any_lora || !s->loras.empty();
    }
    // Each row gets its own sample's LoRAs beside the base weights (networks/lora.hpp).
    std::unique_ptr<lora_call> call;
    if (any_lora) call = std::make_unique<lora_call>(row_loras, device_, dtype_);
    lora_scope scope(call.get());
    // Named in GPU traces (tools/bench/profile_table.py), as random_pipeline.py names diffusers'
    // call.
    RECORD_USER_SCOPE("muse::unet_step");
    const auto& run = any_lora ? eager_ : denoise_;
    auto output = run(torch::cat(inputs).to(dtype_), torch::tensor(timesteps).to(device_),
                      conditioning::cat(rows))
                      .to(torch::kFloat32);
    int64_t row = 0;
    for (auto* s : group) {
      torch::Tensor prediction;
      if (s->uses_guidance()) {
        const auto uncond = output.narrow(0, row, 1), text = output.narrow(0, row + 1, 1);
        prediction = uncond + s->guidance_scale * (text - uncond);
        row += 2;
      } else {
        prediction = output.narrow(0, row++, 1);
      }
      at::Generator* noise = &s->noise;
      s->latents = s->schedule->step(prediction, s->latents, noise);
    }
  }
  synchronize(device_);
  timings_.unet_ms = ms_since(start);
}

std::vector<rgb_image> pipeline::decode(const std::vector<sample_state*>& batch) {
  c10::InferenceMode inference;
  fused_kernels_scope fused(fused_kernels_);
  const auto start = clock_type::now();
  std::vector<rgb_image> images(batch.size());
  std::map<std::pair<int, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < batch.size(); ++i)
    groups[{batch[i]->height, batch[i]->width}].push_back(i);
  for (auto& [size, members] : groups) {
    std::vector<torch::Tensor> latents;
    for (auto i : members) latents.push_back(batch[i]->latents);
    // The VAE takes them in its own dtype: float32 where force_upcast applies, as diffusers'
    // upcast_vae does.
    auto decoded = vae_->decode(torch::cat(latents) / vae_->scaling_factor());
    // diffusers' postprocess: (x / 2 + 0.5).clamp(0, 1), float32 numpy, (x * 255).round() as uint8.
    // Each step is one correctly rounded float32 operation, so running them all on the device
    // gives numpy's bits; only the bytes cross to the CPU.
    auto pixels = (decoded.to(torch::kFloat32) / 2 + 0.5)
                      .clamp(0, 1)
                      .mul(255)
                      .round()
                      .to(torch::kUInt8)
                      .permute({0, 2, 3, 1})
                      .contiguous()
                      .to(torch::kCPU);
    if (pixels.size(3) != 3) throw model_error("the VAE must produce 3-channel images");
    for (size_t k = 0; k < members.size(); ++k) {
      auto& image = images[members[k]];
      image.height = static_cast<int>(pixels.size(1));
      image.width = static_cast<int>(pixels.size(2));
      const auto one = pixels[static_cast<int64_t>(k)];
      image.pixels.assign(one.data_ptr<uint8_t>(), one.data_ptr<uint8_t>() + one.numel());
    }
  }
  synchronize(device_);
  timings_.decode_ms = ms_since(start);
  return images;
}

std::vector<rgb_image> pipeline::preview(const std::vector<sample_state*>& batch) const {
  c10::InferenceMode inference;
  std::vector<rgb_image> images(batch.size());
  if (batch.empty() || vae_->latent_channels() != 4) return images;
  // Rows: the 4 latent channels; columns: R, G, B (SDXL's map adds a bias); fitted to each VAE's
  // decodes.
  static const float sd_factors[4][3] = {{0.3512f, 0.2297f, 0.3227f},
                                         {0.3250f, 0.4974f, 0.2350f},
                                         {-0.2829f, 0.1762f, 0.2721f},
                                         {-0.2120f, -0.2616f, -0.7177f}};
  static const float sdxl_factors[4][3] = {{0.3651f, 0.4232f, 0.4341f},
                                           {-0.2533f, -0.0042f, 0.1068f},
                                           {0.1076f, 0.1111f, -0.0362f},
                                           {-0.3165f, -0.2492f, -0.2188f}};
  static const float sdxl_bias[3] = {0.1084f, -0.0175f, -0.0011f};
  const bool xl = family_ == architecture::sdxl;
  auto factors = torch::from_blob(const_cast<float*>(&(xl ? sdxl_factors : sd_factors)[0][0]),
                                  {4, 3}, torch::kFloat32)
                     .to(device_);
  auto bias = xl ? torch::from_blob(const_cast<float*>(sdxl_bias), {3}, torch::kFloat32).to(device_)
                 : torch::zeros({3}, torch::TensorOptions().device(device_));
  // One projection and one copy to the CPU per latent size.
  std::map<std::pair<int, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < batch.size(); ++i)
    groups[{batch[i]->height, batch[i]->width}].push_back(i);
  for (auto& [size, members] : groups) {
    std::vector<torch::Tensor> latents;
    for (auto i : members) {
      const auto& s = *batch[i];
      latents.push_back(s.schedule->denoised().defined() ? s.schedule->denoised() : s.latents);
    }
    // (n, 4, h, w) -> (n, h, w, 3) in [-1, 1] -> bytes.
    auto rgb =
        torch::einsum("nchw,cr->nhwr", {torch::cat(latents).to(torch::kFloat32), factors}) + bias;
    auto pixels =
        ((rgb + 1) / 2).clamp(0, 1).mul(255).round().to(torch::kUInt8).contiguous().to(torch::kCPU);
    for (size_t k = 0; k < members.size(); ++k) {
      auto& image = images[members[k]];
      const auto one = pixels[static_cast<int64_t>(k)];
      image.height = static_cast<int>(one.size(0));
      image.width = static_cast<int>(one.size(1));
      image.pixels.assign(one.data_ptr<uint8_t>(), one.data_ptr<uint8_t>() + one.numel());
    }
  }
  return images;
}

}  // namespace muse::model
