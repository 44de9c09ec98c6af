// tests/data/tiny-sdxl-single.safetensors is tiny-sdxl written by diffusers' own
// convert_diffusers_to_original_sdxl.py (SGM key names). Split with no configs at all, it must give
// exactly the diffusers layout's tensors for every component; the same file renumbered the way
// SGM's own UNet and VAE number their blocks must split the same; keys that map nowhere fail by
// name.

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/architecture.hpp"
#include "model/formats/model_dir.hpp"
#include "model/formats/single_file.hpp"
#include "model/generator.hpp"
#include "model/networks/unet.hpp"
#include "model/networks/vae.hpp"
#include "model/text/conditioner.hpp"

using muse::model::model_error;
using muse::model::single_file_components;
using muse::model::weight_map;
using tensor_map = std::map<std::string, torch::Tensor>;

namespace {

const std::string data_dir = MUSE_TEST_DATA_DIR;
const std::string model_dir = data_dir + "/tiny-sdxl";
const std::string single_file = data_dir + "/tiny-sdxl-single.safetensors";

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

tensor_map tensors_of(const weight_map& weights) {
  tensor_map out;
  for (const auto& name : weights.names()) out[name] = weights.get(name);
  return out;
}

// `got` holds exactly `want`'s tensors (names with `prefix` put in front where they lack it),
// same dtype, shape and values.
void expect_same(const std::string& component, const weight_map& got, const weight_map& want,
                 const std::string& prefix = "") {
  INFO(component);
  std::set<std::string> wanted;
  for (const auto& name : want.names())
    wanted.insert(starts_with(name, prefix) ? name : prefix + name);
  const auto names = got.names();
  CHECK(std::set<std::string>(names.begin(), names.end()) == wanted);
  for (const auto& name : want.names()) {
    const auto key = starts_with(name, prefix) ? name : prefix + name;
    INFO(key);
    if (!got.contains(key)) continue;  // reported above
    const auto a = got.get(key), b = want.get(name);
    CHECK(a.scalar_type() == b.scalar_type());
    CHECK(a.sizes() == b.sizes());
    CHECK(torch::equal(a, b));
  }
}

void expect_same_split(const single_file_components& a, const single_file_components& b) {
  expect_same("unet", a.unet, b.unet);
  expect_same("vae", a.vae, b.vae);
  expect_same("text_encoder", a.text_encoder, b.text_encoder);
  expect_same("text_encoder_2", a.text_encoder_2, b.text_encoder_2);
}

weight_map committed(const std::string& component, const std::string& file) {
  return weight_map::open(model_dir + "/" + component + "/" + file);
}

// "HEAD" "N." "S." "rest" -> (N, S, rest)
struct block_key {
  int index = 0, slot = 0;
  std::string rest;
};

std::optional<block_key> parse_block(const std::string& key, const std::string& head) {
  if (!starts_with(key, head)) return std::nullopt;
  const auto dot = key.find('.', head.size());
  const auto dot2 = key.find('.', dot + 1);
  return block_key{std::stoi(key.substr(head.size(), dot - head.size())),
                   std::stoi(key.substr(dot + 1, dot2 - dot - 1)), key.substr(dot2 + 1)};
}

std::string block_name(const std::string& head, int index, int slot, const std::string& rest) {
  return head + std::to_string(index) + "." + std::to_string(slot) + "." + rest;
}

// The conversion script numbers UNet blocks for SDXL base's two layers per level down and three
// up, and the VAE decoder for four levels; tiny-sdxl has one layer per level and a two-level VAE,
// so its file has gaps (input_blocks 1, 3, 4, 6, 7; an upsampler alone in output_blocks.2.2) and
// decoder.up.3/2. SGM's own modules number them without gaps: the upsampler in its level's last
// block (slot 2 after an attention, else 1), the decoder levels from 0. CLIP keys get the
// "text_model." that SGM files carry.
tensor_map sgm_numbering(const tensor_map& file) {
  const std::string unet = "model.diffusion_model.", in = unet + "input_blocks.",
                    out = unet + "output_blocks.", up = "first_stage_model.decoder.up.",
                    clip = "conditioner.embedders.0.transformer.";
  std::map<int, int> input_index;
  std::map<int, std::map<int, std::vector<std::string>>> output_slots;
  int lowest_up = 100;
  for (const auto& [key, tensor] : file) {
    if (auto block = parse_block(key, in)) input_index[block->index] = 0;
    if (auto block = parse_block(key, out)) output_slots[block->index][block->slot].push_back(key);
    if (starts_with(key, up)) lowest_up = std::min(lowest_up, std::stoi(key.substr(up.size())));
  }
  int next = 0;
  for (auto& [index, renumbered] : input_index) renumbered = next++;
  std::map<std::string, std::string> output_prefix;  // old "output_blocks.N.S." -> new
  next = 0;
  for (const auto& [index, slots] : output_slots) {
    const bool upsampler_alone = slots.size() == 1 && slots.begin()->first > 0;
    for (const auto& [slot, keys] : slots) {
      const auto old_prefix = out + std::to_string(index) + "." + std::to_string(slot) + ".";
      if (upsampler_alone) {
        const int owner = next - 1;
        const int new_slot = output_slots.at(index - 1).count(1) ? 2 : 1;
        output_prefix[old_prefix] =
            out + std::to_string(owner) + "." + std::to_string(new_slot) + ".";
      } else {
        output_prefix[old_prefix] = out + std::to_string(next) + "." + std::to_string(slot) + ".";
      }
    }
    if (!upsampler_alone) ++next;
  }
  tensor_map renamed;
  for (const auto& [key, tensor] : file) {
    std::string name = key;
    if (auto block = parse_block(key, in)) {
      name = block_name(in, input_index.at(block->index), block->slot, block->rest);
    } else if (auto block = parse_block(key, out)) {
      const auto old_prefix =
          out + std::to_string(block->index) + "." + std::to_string(block->slot) + ".";
      name = output_prefix.at(old_prefix) + block->rest;
    } else if (starts_with(key, up)) {
      const auto dot = key.find('.', up.size());
      name = up + std::to_string(std::stoi(key.substr(up.size())) - lowest_up) + key.substr(dot);
    } else if (starts_with(key, clip) && !starts_with(key, clip + "text_model.")) {
      name = clip + "text_model." + key.substr(clip.size());
    }
    REQUIRE(renamed.count(name) == 0);
    renamed[name] = tensor;
  }
  return renamed;
}

}  // namespace

TEST_CASE("single-file tiny-sdxl splits into exactly the diffusers layout's weights",
          "[single_file][sdxl]") {
  const auto all = weight_map::open(single_file);
  CHECK(muse::model::detect_single_file_architecture(all) == muse::model::architecture::sdxl);
  CHECK(muse::model::detect_model_architecture(single_file, model_dir) ==
        muse::model::architecture::sdxl);

  const auto parts = muse::model::load_single_file(single_file);
  CHECK_FALSE(parts.open_clip);
  expect_same("unet", parts.unet, committed("unet", "diffusion_pytorch_model.safetensors"));
  expect_same("vae", parts.vae, committed("vae", "diffusion_pytorch_model.safetensors"));
  // transformers 5 saved CLIPTextModel without "text_model."; the split names it as
  // CLIPTextModelWithProjection and older transformers do (load_text_encoder takes both).
  expect_same("text_encoder", parts.text_encoder, committed("text_encoder", "model.safetensors"),
              "text_model.");
  expect_same("text_encoder_2", parts.text_encoder_2,
              committed("text_encoder_2", "model.safetensors"));

  // Trimming the first encoder to its config's layer count (as a pipeline does for SD2) drops
  // nothing here, and never touches the second.
  const auto layers = muse::model::read_json_file(model_dir + "/text_encoder/config.json")
                          .at("num_hidden_layers")
                          .get<int>();
  expect_same_split(muse::model::load_single_file(single_file, layers), parts);

  // The parts load strictly into the models their configs describe.
  torch::NoGradGuard no_grad;
  CHECK_NOTHROW(muse::model::load_conditioner(model_dir, parts.text_encoder, &parts.text_encoder_2,
                                              torch::kCPU, torch::kFloat32));
  CHECK_NOTHROW(muse::model::load_unet(muse::model::read_json_file(model_dir + "/unet/config.json"),
                                       parts.unet, torch::kCPU, torch::kFloat32));
  CHECK_NOTHROW(muse::model::load_vae(muse::model::read_json_file(model_dir + "/vae/config.json"),
                                      parts.vae, torch::kCPU, torch::kFloat32));
}

TEST_CASE("single-file tiny-sdxl: SGM's own block numbering splits the same",
          "[single_file][sdxl]") {
  const auto file = tensors_of(weight_map::open(single_file));
  const auto sgm = sgm_numbering(file);
  // The renumbering changed what it should: no gaps left.
  CHECK(sgm.count("model.diffusion_model.input_blocks.2.0.op.weight") == 1);
  CHECK(sgm.count("model.diffusion_model.output_blocks.1.2.conv.weight") == 1);
  CHECK(sgm.count("first_stage_model.decoder.up.0.block.0.conv1.weight") == 1);
  CHECK(file.count("model.diffusion_model.input_blocks.2.0.op.weight") == 0);
  expect_same_split(muse::model::split_single_file(weight_map::from_tensors(sgm)),
                    muse::model::split_single_file(weight_map::from_tensors(file)));
}

TEST_CASE("single-file tiny-sdxl: training leftovers go, unknown keys fail by name",
          "[single_file][sdxl]") {
  auto all = tensors_of(weight_map::open(single_file));
  const auto plain = muse::model::split_single_file(weight_map::from_tensors(all));

  // What SGM checkpoints may carry besides the weights: the denoiser's sigmas, OpenCLIP's
  // logit_scale and attention mask, EMA state.
  all["denoiser.sigmas"] = torch::ones({1000});
  all["conditioner.embedders.1.model.logit_scale"] = torch::ones({});
  all["conditioner.embedders.1.model.attn_mask"] = torch::zeros({77, 77});
  all["model_ema.decay"] = torch::ones({});
  const auto with_leftovers = muse::model::split_single_file(weight_map::from_tensors(all));
  expect_same_split(with_leftovers, plain);

  for (const std::string unknown :
       {"conditioner.embedders.1.model.transformer.resblocks.0.attn.mystery",
        "conditioner.embedders.2.model.token_embedding.weight", "conditioner.mystery",
        "model.diffusion_model.label_emb.0.1.weight"}) {
    auto bad = all;
    bad[unknown] = torch::ones({2});
    try {
      muse::model::split_single_file(weight_map::from_tensors(bad));
      FAIL("split a checkpoint with " << unknown);
    } catch (const model_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(unknown));
    }
  }

  // A projection that is not a matrix does not map.
  auto bad_projection = all;
  bad_projection["conditioner.embedders.1.model.text_projection"] = torch::ones({24});
  CHECK_THROWS_WITH(muse::model::split_single_file(weight_map::from_tensors(bad_projection)),
                    Catch::Contains("conditioner.embedders.1.model.text_projection"));

  // LDM and SGM text encoders in one file: which would be the text encoder?
  auto mixed = all;
  mixed["cond_stage_model.transformer.text_model.final_layer_norm.weight"] = torch::ones({16});
  CHECK_THROWS_WITH(muse::model::split_single_file(weight_map::from_tensors(mixed)),
                    Catch::Contains("cond_stage_model") && Catch::Contains("conditioner"));
}
