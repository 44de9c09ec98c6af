#pragma once
// Writes a tiny random-weight Stable Diffusion pipeline in the diffusers layout (configs, a
// hand-made CLIP vocabulary, float32 safetensors) so pipeline tests stand alone.

#include <ftw.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"
#include "model/text/text_encoder.hpp"

namespace muse::model::testing {

inline void write_safetensors(const std::string& path,
                              const std::map<std::string, torch::Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const auto& [key, value] : tensors) {
    auto t = value.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    const auto bytes = static_cast<size_t>(t.numel()) * sizeof(float);
    header[key] = {{"dtype", "F32"},
                   {"shape", t.sizes().vec()},
                   {"data_offsets", {data.size(), data.size() + bytes}}};
    data.append(static_cast<const char*>(t.data_ptr()), bytes);
  }
  auto text = header.dump();
  while (text.size() % 8) text += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t size = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((size >> (8 * i)) & 0xFF));
  out << text << data;
}

inline std::map<std::string, torch::Tensor> state_of(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : module.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) out[b.key()] = b.value();
  return out;
}

// Deletes a directory tree. (std::filesystem::remove_all crashed on one toolchain: g++ 13 with
// PyTorch 2.11's libtorch, so the tests use nftw.)
inline void remove_tree(const std::string& path) {
  nftw(
      path.c_str(),
      [](const char* file, const struct stat*, int, struct FTW*) { return std::remove(file); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

inline void write_json(const std::string& path, const nlohmann::json& json) {
  std::ofstream(path) << json.dump(2);
}

// Returns the directory (under /tmp, unique per process and name).
inline std::string write_tiny_pipeline(const std::string& name,
                                       const nlohmann::json& scheduler_config) {
  namespace fs = std::filesystem;
  const std::string dir = "/tmp/muse_tiny_" + std::to_string(getpid()) + "_" + name;
  for (const char* sub : {"tokenizer", "text_encoder", "unet", "vae", "scheduler"})
    fs::create_directories(dir + "/" + sub);
  write_json(dir + "/model_index.json", {{"_class_name", "StableDiffusionPipeline"},
                                         {"tokenizer", {"transformers", "CLIPTokenizer"}},
                                         {"text_encoder", {"transformers", "CLIPTextModel"}},
                                         {"unet", {"diffusers", "UNet2DConditionModel"}},
                                         {"vae", {"diffusers", "AutoencoderKL"}},
                                         {"scheduler", {"diffusers", "PNDMScheduler"}},
                                         {"safety_checker", {nullptr, nullptr}}});
  nlohmann::json vocab = {{"<|startoftext|>", 0}, {"<|endoftext|>", 1}, {"!", 2}};
  for (char c = 'a'; c <= 'z'; ++c) {
    vocab[std::string(1, c)] = vocab.size();
    vocab[std::string(1, c) + "</w>"] = vocab.size();
  }
  write_json(dir + "/tokenizer/vocab.json", vocab);
  std::ofstream(dir + "/tokenizer/merges.txt") << "#version: 0.2\n";
  write_json(dir + "/scheduler/scheduler_config.json", scheduler_config);

  torch::manual_seed(42);
  const nlohmann::json text_config = {{"architectures", {"CLIPTextModel"}},
                                      {"vocab_size", 64},
                                      {"hidden_size", 32},
                                      {"intermediate_size", 37},
                                      {"num_hidden_layers", 2},
                                      {"num_attention_heads", 4},
                                      {"max_position_embeddings", 77},
                                      {"hidden_act", "quick_gelu"}};
  write_json(dir + "/text_encoder/config.json", text_config);
  text_encoder text(text_encoder_config::from_json(text_config));
  write_safetensors(dir + "/text_encoder/model.safetensors", state_of(*text));

  const nlohmann::json unet_json = {{"_class_name", "UNet2DConditionModel"},
                                    {"sample_size", 8},
                                    {"in_channels", 4},
                                    {"out_channels", 4},
                                    {"block_out_channels", {16, 32}},
                                    {"layers_per_block", 1},
                                    {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
                                    {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
                                    {"cross_attention_dim", 32},
                                    {"attention_head_dim", 2},
                                    {"norm_num_groups", 8}};
  write_json(dir + "/unet/config.json", unet_json);
  unet_model unet(unet_config::from_json(unet_json));
  write_safetensors(dir + "/unet/diffusion_pytorch_model.safetensors", state_of(*unet));

  const nlohmann::json vae_json = {
      {"_class_name", "AutoencoderKL"},
      {"in_channels", 3},
      {"out_channels", 3},
      {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
      {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
      {"block_out_channels", {8, 16}},
      {"latent_channels", 4},
      {"layers_per_block", 1},
      {"norm_num_groups", 8},
      {"sample_size", 16}};
  write_json(dir + "/vae/config.json", vae_json);
  vae_model vae(vae_config::from_json(vae_json));
  write_safetensors(dir + "/vae/diffusion_pytorch_model.safetensors", state_of(*vae));
  return dir;
}

}  // namespace muse::model::testing
