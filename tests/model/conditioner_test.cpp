// The text side: text-encoder outputs beyond last_hidden_state (penultimate, pooled, projected),
// and the conditioner against today's single-encoder path and against diffusers' SDXL
// encode_prompt (tools/reference/build_sdxl.py).
#include "model/text/conditioner.hpp"

#include <catch2/catch.hpp>
#include <fstream>

#include "model/formats/model_dir.hpp"
#include "model/generator.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

const nlohmann::json projected_config = {{"architectures", {"CLIPTextModelWithProjection"}},
                                         {"vocab_size", 50},
                                         {"hidden_size", 16},
                                         {"intermediate_size", 24},
                                         {"num_hidden_layers", 2},
                                         {"num_attention_heads", 4},
                                         {"max_position_embeddings", 10},
                                         {"hidden_act", "gelu"},
                                         {"eos_token_id", 49},
                                         {"projection_dim", 12}};

// A CLIPTextModelWithProjection with random weights, saved as transformers 5 names them.
std::map<std::string, torch::Tensor> projected_weights() {
  torch::manual_seed(3);
  text_encoder source(text_encoder_config::from_json(projected_config));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : source->named_parameters()) tensors[p.key()] = p.value().detach().clone();
  return tensors;
}

std::vector<int64_t> row(const torch::Tensor& ids, int64_t i) {
  auto r = ids[i].contiguous();
  return {r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()};
}

bool have_sdxl() { return testing::have_reference("tiny-sdxl"); }

nlohmann::json sdxl_metadata() {
  std::ifstream in(testing::data_dir() + "/reference/sdxl.json");
  return nlohmann::json::parse(in);
}

std::vector<std::string> strings(const nlohmann::json& value) {
  if (value.is_string()) return {value.get<std::string>()};
  return value.get<std::vector<std::string>>();
}

}  // namespace

TEST_CASE("text encoder: the projection loads from CLIPTextModelWithProjection weights",
          "[text_encoder]") {
  const auto tensors = projected_weights();
  REQUIRE(tensors.count("text_projection.weight") == 1);
  CHECK(tensors.at("text_projection.weight").sizes() == torch::IntArrayRef({12, 16}));
  auto model = load_text_encoder(projected_config, weight_map::from_tensors(tensors), torch::kCPU,
                                 torch::kFloat32);
  torch::NoGradGuard no_grad;
  const auto ids = torch::tensor({{48, 5, 7, 49, 0, 0}, {48, 49, 0, 0, 0, 0}}, torch::kLong);
  auto out = model->encode(ids, last_hidden_output | penultimate_output | pooled_output);
  // pooled: the state at the first eos_token_id (49) of each row, after the final norm
  CHECK(torch::equal(out.pooled[0], out.last_hidden_state[0][3]));
  CHECK(torch::equal(out.pooled[1], out.last_hidden_state[1][1]));
  CHECK(torch::allclose(out.text_embeds,
                        torch::matmul(out.pooled, tensors.at("text_projection.weight").t()), 1e-5,
                        1e-6));
  CHECK(torch::equal(out.last_hidden_state, model->forward(ids)));
  // Asked alone, the penultimate states skip the last layer and are the same numbers.
  auto alone = model->encode(ids, penultimate_output);
  CHECK(torch::equal(alone.penultimate, out.penultimate));
  CHECK_FALSE(alone.last_hidden_state.defined());
  CHECK_FALSE(alone.pooled.defined());
  CHECK_FALSE(torch::allclose(out.penultimate, out.last_hidden_state, 1e-2, 1e-2));

  // The same weights under a CLIPTextModel config: the projection is left out, as before.
  auto plain_config = projected_config;
  plain_config["architectures"] = {"CLIPTextModel"};
  auto plain = load_text_encoder(plain_config, weight_map::from_tensors(tensors), torch::kCPU,
                                 torch::kFloat32);
  auto plain_out = plain->encode(ids, pooled_output);
  CHECK(torch::equal(plain_out.pooled, out.pooled));
  CHECK_FALSE(plain_out.text_embeds.defined());

  // A config that names the projection needs its weights.
  auto missing = tensors;
  missing.erase("text_projection.weight");
  CHECK_THROWS_WITH(load_text_encoder(projected_config, weight_map::from_tensors(missing),
                                      torch::kCPU, torch::kFloat32),
                    Catch::Contains("text_projection"));
}

TEST_CASE("text encoder: legacy eos_token_id 2 pools at the largest id", "[text_encoder]") {
  auto config = projected_config;
  config["eos_token_id"] = 2;
  auto tensors = projected_weights();
  auto model =
      load_text_encoder(config, weight_map::from_tensors(tensors), torch::kCPU, torch::kFloat32);
  torch::NoGradGuard no_grad;
  // 2 appears first, but the pooled row is at 47, the largest id (transformers' argmax).
  const auto ids = torch::tensor({{2, 5, 47, 3, 3}}, torch::kLong);
  auto out = model->encode(ids, last_hidden_output | pooled_output);
  CHECK(torch::equal(out.pooled[0], out.last_hidden_state[0][2]));
}

TEST_CASE("text encoder pooled output matches transformers on tiny-sd and tiny-sd2",
          "[parity][text_encoder]") {
  for (const std::string name : {"tiny-sd", "tiny-sd2"}) {
    if (!testing::have_reference(name)) {
      WARN("reference data for " << name << " absent");
      continue;
    }
    INFO(name);
    const auto ref = testing::reference(name, "text_encoder");
    auto model = load_text_encoder(testing::data_dir() + "/" + name + "/text_encoder", torch::kCPU,
                                   torch::kFloat32);
    torch::NoGradGuard no_grad;
    auto out = model->encode(ref.get("input_ids"), last_hidden_output | pooled_output);
    testing::check_close(out.pooled, ref.get("pooler_output"), name + " pooler_output", 1e-5);
    testing::check_close(out.last_hidden_state, ref.get("last_hidden_state"),
                         name + " last_hidden_state", 1e-5);
  }
}

TEST_CASE("conditioner: SD 1.x/2.x give today's text-encoder output", "[conditioner]") {
  for (const std::string name : {"tiny-sd", "tiny-sd2"}) {
    if (!testing::have_reference(name)) {
      WARN("reference data for " << name << " absent");
      continue;
    }
    INFO(name);
    const auto dir = testing::data_dir() + "/" + name;
    auto text = load_conditioner(dir, torch::kCPU, torch::kFloat32);
    CHECK_FALSE(text->dual());
    CHECK_FALSE(text->zeroes_empty_negative());
    CHECK(text->pooled_dim() == 0);
    CHECK(text->context_dim() == 32);
    CHECK(text->max_length() == 77);

    // The pipeline's path before the conditioner: tokenizer + one CLIPTextModel call.
    auto tokenizer = clip_tokenizer::load(dir + "/tokenizer");
    auto encoder = load_text_encoder(dir + "/text_encoder", torch::kCPU, torch::kFloat32);
    const std::vector<std::string> texts = {"a photograph of an astronaut riding a horse",
                                            "blurry, low quality", ""};
    std::vector<int64_t> ids;
    for (const auto& t : texts) {
      auto e = tokenizer.encode(t);
      ids.insert(ids.end(), e.begin(), e.end());
    }
    torch::NoGradGuard no_grad;
    const auto expected = encoder->forward(torch::tensor(ids, torch::kLong).view({3, 77}));

    // Prompt, negative, empty negative (encoded, not zeroed, as StableDiffusionPipeline does),
    // and a repeat that shares its row.
    std::vector<text_prompt> prompts(4);
    prompts[0].text = texts[0];
    prompts[1] = {texts[1], "", true, {}};
    prompts[2] = {texts[2], "", true, {}};
    prompts[3].text = texts[0];
    auto c = text->encode(prompts);
    REQUIRE(c.rows() == 4);
    CHECK_FALSE(c.pooled.defined());
    CHECK_FALSE(c.time_ids.defined());
    CHECK(torch::equal(c.context.narrow(0, 0, 3), expected));
    CHECK(torch::equal(c.context[3], expected[0]));
    CHECK(c.context.abs().sum(-1).min().item<float>() > 0);

    // And the transformers reference of the committed prompts.
    const auto ref = testing::reference(name, "text_encoder");
    const auto reference_prompts =
        testing::metadata().at("pipelines").at(name).at("text_encoder").at("prompts");
    std::vector<text_prompt> rows;
    for (const auto& p : reference_prompts) rows.push_back({p.get<std::string>(), "", false, {}});
    testing::check_close(text->encode(rows).context, ref.get("last_hidden_state"),
                         name + " conditioner context", 1e-5);
  }
}

TEST_CASE("conditioner: time ids as diffusers' _get_add_time_ids", "[conditioner]") {
  auto ids = make_time_ids({size_conditioning::of_image(768, 1024), {64, 96, 4, 8, 32, 48}});
  CHECK(ids.scalar_type() == torch::kFloat32);
  CHECK(torch::equal(ids, torch::tensor({{768.f, 1024.f, 0.f, 0.f, 768.f, 1024.f},
                                         {64.f, 96.f, 4.f, 8.f, 32.f, 48.f}})));
}

TEST_CASE("conditioner: loading refuses what it cannot serve", "[conditioner]") {
  if (!testing::have_reference("tiny-sd")) return;
  auto dir = testing::data_dir() + "/tiny-sd";
  auto tokenizer = [&] {
    return std::make_unique<clip_tokenizer>(clip_tokenizer::load(dir + "/tokenizer"));
  };
  auto encoder = [&] {
    return load_text_encoder(dir + "/text_encoder", torch::kCPU, torch::kFloat32);
  };
  // SDXL's second encoder must carry a projection.
  CHECK_THROWS_WITH(conditioner(text_encoder_part{tokenizer(), encoder()},
                                text_encoder_part{tokenizer(), encoder()}, true),
                    Catch::Contains("CLIPTextModelWithProjection"));
}

TEST_CASE("tiny-sdxl text encoders match transformers", "[parity][conditioner][sdxl]") {
  if (!have_sdxl()) {
    WARN("reference data for tiny-sdxl absent");
    return;
  }
  const auto dir = testing::data_dir() + "/tiny-sdxl";
  const auto ref = testing::reference("tiny-sdxl", "text_encoders");
  const auto meta = sdxl_metadata().at("text_encoders");
  torch::NoGradGuard no_grad;
  for (const std::string key : {"text_encoder", "text_encoder_2"}) {
    const std::string tokenizer_dir = key == "text_encoder" ? "/tokenizer" : "/tokenizer_2";
    auto tokenizer = clip_tokenizer::load(dir + tokenizer_dir);
    auto model = load_text_encoder(dir + "/" + key, torch::kCPU, torch::kFloat32);
    CHECK(model->config().with_projection == (key == "text_encoder_2"));
    for (const auto& [set, texts] : meta.at("prompt_sets").items()) {
      const std::string prefix = set + "." + key + ".";
      INFO(prefix);
      const auto ids = ref.get(prefix + "input_ids");
      for (size_t i = 0; i < texts.size(); ++i)
        CHECK(tokenizer.encode(texts[i].get<std::string>()) == row(ids, static_cast<int64_t>(i)));
      auto out = model->encode(ids, last_hidden_output | penultimate_output | pooled_output);
      testing::check_close(out.last_hidden_state, ref.get(prefix + "last_hidden_state"),
                           prefix + "last_hidden_state", 1e-5);
      testing::check_close(out.penultimate, ref.get(prefix + "penultimate"), prefix + "penultimate",
                           1e-5);
      testing::check_close(out.pooled, ref.get(prefix + "pooler_output"), prefix + "pooler_output",
                           1e-5);
      if (key == "text_encoder_2")
        testing::check_close(out.text_embeds, ref.get(prefix + "text_embeds"),
                             prefix + "text_embeds", 1e-5);
      else
        CHECK_FALSE(out.text_embeds.defined());
    }
  }
}

TEST_CASE("tiny-sdxl conditioner matches diffusers' encode_prompt", "[parity][conditioner][sdxl]") {
  if (!have_sdxl()) {
    WARN("reference data for tiny-sdxl absent");
    return;
  }
  const auto dir = testing::data_dir() + "/tiny-sdxl";
  auto text = load_conditioner(dir, torch::kCPU, torch::kFloat32);
  REQUIRE(text->dual());
  CHECK(text->zeroes_empty_negative());
  const auto unet = read_json_file(dir + "/unet/config.json");
  CHECK(text->context_dim() == unet.at("cross_attention_dim").get<int64_t>());
  CHECK(6 * unet.at("addition_time_embed_dim").get<int64_t>() + text->pooled_dim() ==
        unet.at("projection_class_embeddings_input_dim").get<int64_t>());

  const auto ref = testing::reference("tiny-sdxl", "encode_prompt");
  const auto meta = sdxl_metadata().at("encode_prompt");
  const auto size = size_conditioning::of_image(32, 32);
  for (const auto& [name, kwargs] : meta.at("cases").items()) {
    INFO(name);
    // diffusers' negative_prompt=None is our empty negative; its "" is an empty text encoded
    // as a prompt (not a negative), which is never zeroed.
    const auto positives = strings(kwargs.at("prompt"));
    const auto batch = positives.size();
    auto text_2 = [&](const char* key, size_t i) {
      return kwargs.contains(key) && !kwargs.at(key).is_null() ? strings(kwargs.at(key)).at(i)
                                                               : std::string();
    };
    std::vector<text_prompt> prompts;
    for (size_t i = 0; i < batch; ++i)
      prompts.push_back({positives[i], text_2("prompt_2", i), false, size});
    const auto& negative = kwargs.at("negative_prompt");
    const bool none = negative.is_null();
    for (size_t i = 0; i < batch; ++i) {
      if (none)
        prompts.push_back({"", text_2("negative_prompt_2", i), true, size});
      else {
        const auto text_i = strings(negative).at(batch == 1 ? 0 : i);
        prompts.push_back({text_i, text_2("negative_prompt_2", i), !text_i.empty(), size});
      }
    }
    const auto n = static_cast<int64_t>(batch);
    auto c = text->encode(prompts);
    REQUIRE(c.rows() == 2 * n);
    testing::check_close(c.context.narrow(0, 0, n), ref.get(name + ".prompt_embeds"),
                         name + " prompt_embeds", 1e-5);
    testing::check_close(c.context.narrow(0, n, n), ref.get(name + ".negative_prompt_embeds"),
                         name + " negative_prompt_embeds", 1e-5);
    testing::check_close(c.pooled.narrow(0, 0, n), ref.get(name + ".pooled_prompt_embeds"),
                         name + " pooled_prompt_embeds", 1e-5);
    testing::check_close(c.pooled.narrow(0, n, n), ref.get(name + ".negative_pooled_prompt_embeds"),
                         name + " negative_pooled_prompt_embeds", 1e-5);
    CHECK(none == kwargs.at("negative_zeroed").get<bool>());
    if (none) {
      CHECK(c.context.narrow(0, n, n).abs().max().item<float>() == 0);
      CHECK(c.pooled.narrow(0, n, n).abs().max().item<float>() == 0);
    }
    CHECK(torch::equal(c.time_ids, make_time_ids(std::vector<size_conditioning>(2 * batch, size))));
  }

  for (const auto& [name, entry] : meta.at("time_ids").items()) {
    INFO(name);
    const auto original = entry.at("original_size").get<std::vector<int>>();
    const auto crop = entry.at("crops_coords_top_left").get<std::vector<int>>();
    const auto target = entry.at("target_size").get<std::vector<int>>();
    size_conditioning s{original[0], original[1], crop[0], crop[1], target[0], target[1]};
    CHECK(torch::equal(make_time_ids({s}), ref.get("time_ids." + name)));
  }
}

TEST_CASE("tiny-sdxl conditioner loads from given weights as from its folder",
          "[conditioner][sdxl]") {
  if (!have_sdxl()) {
    WARN("reference data for tiny-sdxl absent");
    return;
  }
  const auto dir = testing::data_dir() + "/tiny-sdxl";
  const auto first = weight_map::open(dir + "/text_encoder/model.safetensors");
  const auto second = weight_map::open(dir + "/text_encoder_2/model.safetensors");
  // A single file's parts come as weight maps; the configs and tokenizers from the folder.
  CHECK_THROWS_WITH(load_conditioner(dir, first, nullptr, torch::kCPU, torch::kFloat32),
                    Catch::Contains("text_encoder_2"));
  auto given = load_conditioner(dir, first, &second, torch::kCPU, torch::kFloat32);
  auto folder = load_conditioner(dir, torch::kCPU, torch::kFloat32);
  const auto size = size_conditioning::of_image(32, 48);
  const std::vector<text_prompt> prompts = {{"a fox", "", false, size}, {"", "", true, size}};
  auto a = given->encode(prompts);
  auto b = folder->encode(prompts);
  CHECK(torch::equal(a.context, b.context));
  CHECK(torch::equal(a.pooled, b.pooled));
  CHECK(torch::equal(a.time_ids, make_time_ids({size, size})));
  // An SDXL prompt without sizes has no time ids to give.
  CHECK_THROWS_WITH(folder->encode({{"a fox", "", false, {}}}), Catch::Contains("size"));
}
