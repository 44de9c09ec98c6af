// LoRAs: the file reader (kohya and diffusers/PEFT layouts, alphas, refusals), the per-row side
// path against weights merged as W + s * (alpha / rank) * B A (one layer, a whole UNet call, the
// text encoder), a pipeline batch mixing LoRAs against each sample alone, and the LRU cache.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "model/lora_library.hpp"
#include "model/pipeline.hpp"
#include "tests/model/tiny_pipeline.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

const std::string attn_q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
const std::string attn_out = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0";
const std::string proj_in = "down_blocks.0.attentions.0.proj_in";  // a 1x1 conv in SD 1.x
const std::string te_q = "text_model.encoder.layers.0.self_attn.q_proj";

// A fresh folder under /tmp, removed with what it holds (remove_tree: see tiny_pipeline.hpp).
class scratch_folder {
 public:
  scratch_folder() {
    std::string pattern = "/tmp/muse_lora_XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~scratch_folder() { testing::remove_tree(path_); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
    return file(name);
  }

 private:
  std::string path_;
};

std::string tiny_sd() { return testing::data_dir() + "/tiny-sd"; }

struct tiny_models {
  unet_model unet = load_unet(tiny_sd() + "/unet", torch::kCPU, torch::kFloat32);
  text_encoder encoder =
      load_text_encoder(tiny_sd() + "/text_encoder", torch::kCPU, torch::kFloat32);
  lora_components components() { return {{"unet", unet.get()}, {"text_encoder", encoder.get()}}; }
};

std::string kohya_name(std::string prefix, const std::string& path) {
  for (char c : path) prefix += c == '.' ? '_' : c;
  return prefix;
}

// A random update of `rank` for each module of `paths` in `component`, under kohya's names
// (with `alpha`) or diffusers' (alpha 0: none stored).
void add_random(std::map<std::string, torch::Tensor>& tensors, const lora_targets& targets,
                const std::string& component, const std::vector<std::string>& paths, bool kohya,
                int64_t rank, double alpha, uint64_t seed) {
  torch::manual_seed(seed);
  for (const auto& path : paths) {
    const auto& shape = targets.at(component).at(path);
    std::vector<int64_t> down{rank, shape.in}, up{shape.out, rank};
    if (shape.kernel == 1) down = {rank, shape.in, 1, 1}, up = {shape.out, rank, 1, 1};
    const auto a = torch::randn(down) * 0.3, b = torch::randn(up) * 0.3;
    if (kohya) {
      const auto stem = kohya_name(component == "unet" ? "lora_unet_" : "lora_te_", path);
      tensors[stem + ".lora_down.weight"] = a;
      tensors[stem + ".lora_up.weight"] = b;
      if (alpha > 0) tensors[stem + ".alpha"] = torch::tensor(alpha);
    } else {
      tensors[component + "." + path + ".lora_A.weight"] = a;
      tensors[component + "." + path + ".lora_B.weight"] = b;
    }
  }
}

std::vector<std::string> every_adaptable(const lora_targets& targets,
                                         const std::string& component) {
  std::vector<std::string> paths;
  for (const auto& [path, shape] : targets.at(component))
    if (shape.kernel <= 1) paths.push_back(path);
  return paths;
}

// W += scale * (alpha / rank) * B A on every module the file adapts, in `components`.
void merge(const lora_file& file, const lora_components& components, double scale) {
  torch::NoGradGuard no_grad;
  for (const auto& [component, modules] : file.components) {
    auto named = components.at(component)->named_modules("", false);
    for (const auto& [path, update] : modules) {
      auto weight = named[path]->named_parameters(false)["weight"];
      const auto delta = torch::mm(update.up, update.down) * (scale * update.scale());
      weight.add_(delta.view(weight.sizes()));
    }
  }
}

void check_same(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.sizes() == want.sizes());
  const double scale = want.abs().max().item<double>();
  const double error = (got - want).abs().max().item<double>();
  INFO("max abs error " << error << " at scale " << scale);
  CHECK(error <= 1e-5 * std::max(1.0, scale));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const model_error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("kohya LoRA files: names to diffusers modules, alpha over rank", "[lora]") {
  tiny_models m;
  const auto targets = lora_targets_of(m.components());
  std::map<std::string, torch::Tensor> t;
  add_random(t, targets, "unet", {attn_q, attn_out, proj_in}, true, 4, 2.0, 1);
  add_random(t, targets, "text_encoder", {te_q}, true, 4, 6.0, 2);
  const auto file = parse_lora(weight_map::from_tensors(t), targets, "x");
  CHECK(file.format == lora_format::kohya);
  REQUIRE(file.components.size() == 2);
  const auto& unet = file.components.at("unet");
  REQUIRE(unet.size() == 3);
  CHECK(unet.at(attn_q).alpha == 2.0);
  CHECK(unet.at(attn_q).scale() == 0.5);
  CHECK(unet.at(attn_q).key == kohya_name("lora_unet_", attn_q) + ".lora_down.weight");
  CHECK(torch::equal(unet.at(attn_out).up,
                     t.at(kohya_name("lora_unet_", attn_out) + ".lora_up.weight")));
  CHECK(unet.at(proj_in).convolution);
  CHECK(unet.at(proj_in).down.dim() == 2);
  CHECK_FALSE(unet.at(attn_q).convolution);
  CHECK(file.components.at("text_encoder").at(te_q).scale() == 1.5);

  // transformers 5 names the text encoder's modules without "text_model.": so may a LoRA.
  const auto& q = targets.at("text_encoder").at(te_q);
  const std::map<std::string, torch::Tensor> short_kohya = {
      {"lora_te_encoder_layers_0_self_attn_q_proj.lora_down.weight", torch::zeros({4, q.in})},
      {"lora_te_encoder_layers_0_self_attn_q_proj.lora_up.weight", torch::zeros({q.out, 4})}};
  CHECK(parse_lora(weight_map::from_tensors(short_kohya), targets, "x")
            .components.at("text_encoder")
            .count(te_q) == 1);
  const std::map<std::string, torch::Tensor> short_peft = {
      {"text_encoder.encoder.layers.0.self_attn.q_proj.lora_A.weight", torch::zeros({4, q.in})},
      {"text_encoder.encoder.layers.0.self_attn.q_proj.lora_B.weight", torch::zeros({q.out, 4})}};
  CHECK(parse_lora(weight_map::from_tensors(short_peft), targets, "x")
            .components.at("text_encoder")
            .count(te_q) == 1);

  // No alpha: alpha = rank (scale 1); alphas on some modules: the others take the common one.
  std::map<std::string, torch::Tensor> no_alpha;
  add_random(no_alpha, targets, "unet", {attn_q}, true, 4, 0, 3);
  CHECK(parse_lora(weight_map::from_tensors(no_alpha), targets, "x")
            .components.at("unet")
            .at(attn_q)
            .scale() == 1.0);
  add_random(no_alpha, targets, "unet", {attn_out}, true, 4, 8.0, 4);
  CHECK(parse_lora(weight_map::from_tensors(no_alpha), targets, "x")
            .components.at("unet")
            .at(attn_q)
            .alpha == 8.0);
}

TEST_CASE("diffusers/PEFT LoRA files: alpha from metadata, .alpha keys or the rank", "[lora]") {
  tiny_models m;
  const auto targets = lora_targets_of(m.components());
  std::map<std::string, torch::Tensor> t;
  add_random(t, targets, "unet", {attn_q, attn_out, proj_in}, false, 4, 0, 5);
  add_random(t, targets, "text_encoder", {te_q}, false, 2, 0, 6);

  const auto plain = parse_lora(weight_map::from_tensors(t), targets, "x");
  CHECK(plain.format == lora_format::peft);
  CHECK(plain.module_count() == 4);
  CHECK(plain.components.at("unet").at(attn_q).scale() == 1.0);
  CHECK(plain.components.at("text_encoder").at(te_q).rank() == 2);
  CHECK(plain.components.at("unet").at(proj_in).convolution);

  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"lora_adapter_metadata",
       R"({"unet.r": 4, "unet.lora_alpha": 8, "unet.alpha_pattern": {")" + attn_out +
           R"(": 2}, "text_encoder.r": 2, "text_encoder.lora_alpha": 1})"}};
  const auto with_meta = parse_lora(weight_map::from_tensors(t, metadata), targets, "x");
  CHECK(with_meta.components.at("unet").at(attn_q).scale() == 2.0);
  CHECK(with_meta.components.at("unet").at(attn_out).scale() == 0.5);
  CHECK(with_meta.components.at("text_encoder").at(te_q).scale() == 0.5);
  // The same read from a file: the metadata comes from its safetensors header.
  scratch_folder folder;
  testing::write_safetensors(folder.file("p.safetensors"), t, metadata);
  CHECK(read_lora_file(folder.file("p.safetensors"), targets)
            .components.at("unet")
            .at(attn_out)
            .scale() == 0.5);

  auto with_alpha = t;
  with_alpha["unet." + attn_q + ".alpha"] = torch::tensor(1.0);
  CHECK(parse_lora(weight_map::from_tensors(with_alpha), targets, "x")
            .components.at("unet")
            .at(attn_q)
            .scale() == 0.25);

  const std::map<std::string, std::string> rslora = {
      {"lora_adapter_metadata", R"({"unet.r": 4, "unet.use_rslora": true})"}};
  CHECK_THAT(message_of([&] { parse_lora(weight_map::from_tensors(t, rslora), targets, "x"); }),
             Catch::Contains("use_rslora"));
}

TEST_CASE("LoRA files that do not fit the model are refused by name", "[lora]") {
  tiny_models m;
  const auto targets = lora_targets_of(m.components());
  const auto refused = [&](std::map<std::string, torch::Tensor> t) {
    return message_of([&] { parse_lora(weight_map::from_tensors(t), targets, "bad"); });
  };
  std::map<std::string, torch::Tensor> base;
  add_random(base, targets, "unet", {attn_q}, true, 4, 4.0, 7);
  const auto q_down = kohya_name("lora_unet_", attn_q) + ".lora_down.weight";
  const auto q_up = kohya_name("lora_unet_", attn_q) + ".lora_up.weight";

  auto unknown = base;
  unknown["lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight"] = torch::zeros({4, 32});
  CHECK_THAT(refused(unknown), Catch::Contains("lora_unet_down_blocks_7_attentions_0_proj_in") &&
                                   Catch::Contains("another base model"));
  auto no_up = base;
  no_up.erase(q_up);
  CHECK_THAT(refused(no_up), Catch::Contains(q_down) && Catch::Contains("up (B)"));
  auto wide = base;
  wide[q_down] = torch::zeros({4, 48});
  CHECK_THAT(refused(wide), Catch::Contains(q_down) && Catch::Contains("do not fit"));
  std::map<std::string, torch::Tensor> locon = {
      {"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight", torch::zeros({4, 32, 3, 3})},
      {"lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight", torch::zeros({32, 4, 1, 1})}};
  CHECK_THAT(refused(locon), Catch::Contains("LoCon") && Catch::Contains("resnets_0_conv1"));
  std::map<std::string, torch::Tensor> sgm = {
      {"lora_unet_input_blocks_4_1_proj_in.lora_down.weight", torch::zeros({4, 32})}};
  CHECK_THAT(refused(sgm), Catch::Contains("SGM"));
  std::map<std::string, torch::Tensor> loha = {
      {"lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a", torch::zeros({4, 32})}};
  CHECK_THAT(refused(loha), Catch::Contains("LoHa"));
  std::map<std::string, torch::Tensor> te2 = {
      {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
       torch::zeros({4, 32})}};
  CHECK_THAT(refused(te2), Catch::Contains("text_encoder_2"));
  auto mixed = base;
  mixed["unet." + attn_q + ".lora_A.weight"] = torch::zeros({4, 32});
  CHECK_THAT(refused(mixed), Catch::Contains("mixes"));
  CHECK_THAT(refused({{"unet.nowhere.lora_A.weight", torch::zeros({4, 32})}}),
             Catch::Contains("unet.nowhere.lora_A.weight"));
  CHECK_THAT(refused({{"down_blocks.0.lora_A.weight", torch::zeros({4, 32})}}),
             Catch::Contains("names no component"));

  scratch_folder folder;
  const auto garbage = folder.write("garbage.safetensors", "not a safetensors file at all");
  CHECK_THAT(message_of([&] { read_lora_file(garbage, targets); }),
             Catch::Contains("garbage.safetensors"));
}

TEST_CASE("the LoRA side path equals merged weights, row by row, for a layer", "[lora]") {
  torch::manual_seed(11);
  torch::nn::Linear linear(16, 24);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(16, 24, 1));
  std::map<std::string, torch::Tensor> t;
  const lora_targets targets = {{"unet", {{"linear", {16, 24, 0}}, {"conv", {16, 24, 1}}}}};
  t["lora_unet_linear.lora_down.weight"] = torch::randn({3, 16});
  t["lora_unet_linear.lora_up.weight"] = torch::randn({24, 3});
  t["lora_unet_linear.alpha"] = torch::tensor(1.5);
  t["lora_unet_conv.lora_down.weight"] = torch::randn({3, 16, 1, 1});
  t["lora_unet_conv.lora_up.weight"] = torch::randn({24, 3, 1, 1});
  const auto file = parse_lora(weight_map::from_tensors(t), targets, "x");
  torch::nn::Sequential holder;
  holder->push_back("linear", linear);
  holder->push_back("conv", conv);
  const lora_components components = {{"unet", holder.ptr().get()}};
  auto adapter = bind_lora(file, "x", components, torch::kCPU, torch::kFloat32);

  // Rows: 0 with scale 0.7, 1 without, 2 with -1.3, 3 with 0.7 again.
  const std::vector<double> scales = {0.7, 0.0, -1.3, 0.7};
  std::vector<lora_call::row_adapters> rows(4);
  for (size_t i = 0; i < rows.size(); ++i)
    if (scales[i] != 0) rows[i].push_back({adapter, scales[i]});
  lora_call call(rows, torch::kCPU, torch::kFloat32);
  const auto x = torch::randn({4, 5, 16}), image = torch::randn({4, 16, 3, 3});
  torch::Tensor side, side_conv;
  {
    torch::NoGradGuard no_grad;
    lora_scope scope(&call);
    side = run_linear(linear, x);
    side_conv = add_lora(*conv, image, conv(image));
  }
  CHECK(!active_lora_call());
  const auto& lin = file.components.at("unet").at("linear");
  const auto& cv = file.components.at("unet").at("conv");
  for (int64_t i = 0; i < 4; ++i) {
    torch::NoGradGuard no_grad;
    const auto s = scales[static_cast<size_t>(i)];
    const auto w = linear->weight + s * lin.scale() * torch::mm(lin.up, lin.down);
    check_same(side[i], torch::linear(x[i], w, linear->bias), "linear row " + std::to_string(i));
    const auto k = conv->weight + (s * cv.scale() * torch::mm(cv.up, cv.down)).view({24, 16, 1, 1});
    check_same(side_conv[i], torch::conv2d(image.narrow(0, i, 1), k, conv->bias)[0],
               "conv row " + std::to_string(i));
  }
  // Without a scope the layer is the plain one.
  torch::NoGradGuard no_grad;
  check_same(run_linear(linear, x), torch::linear(x, linear->weight, linear->bias), "no LoRA");
}

TEST_CASE("a whole UNet and text encoder call with LoRAs equals merged weights", "[lora]") {
  tiny_models m, merged_x, merged_y;
  const auto targets = lora_targets_of(m.components());
  std::map<std::string, torch::Tensor> tx, ty;
  add_random(tx, targets, "unet", every_adaptable(targets, "unet"), true, 4, 2.0, 21);
  add_random(tx, targets, "text_encoder", every_adaptable(targets, "text_encoder"), true, 4, 3.0,
             22);
  add_random(ty, targets, "unet", {attn_q, proj_in}, false, 2, 0, 23);
  const auto fx = parse_lora(weight_map::from_tensors(tx), targets, "x");
  const auto fy = parse_lora(weight_map::from_tensors(ty), targets, "y");
  const auto x = bind_lora(fx, "x", m.components(), torch::kCPU, torch::kFloat32);
  const auto y = bind_lora(fy, "y", m.components(), torch::kCPU, torch::kFloat32);
  merge(fx, merged_x.components(), 0.8);
  merge(fy, merged_y.components(), -0.5);

  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  const auto latents = torch::randn({3, 4, 16, 16});
  const auto timesteps = torch::tensor({500.0f, 500.0f, 120.0f});
  const auto context = torch::randn({3, 7, 32});
  // Row 0 with x, row 1 without, row 2 with y.
  lora_call call({{{x, 0.8}}, {}, {{y, -0.5}}}, torch::kCPU, torch::kFloat32);
  torch::Tensor mixed;
  {
    lora_scope scope(&call);
    mixed = m.unet->forward(latents, timesteps, context);
  }
  const auto row = [&](unet_model& unet, int64_t i) {
    return unet->forward(latents.narrow(0, i, 1), timesteps.narrow(0, i, 1),
                         context.narrow(0, i, 1))[0];
  };
  const auto plain_row = row(m.unet, 1);
  check_same(mixed[0], row(merged_x.unet, 0), "UNet row with LoRA x");
  check_same(mixed[1], plain_row, "UNet row without LoRA");
  check_same(mixed[2], row(merged_y.unet, 2), "UNet row with LoRA y");
  CHECK((mixed[0] - row(m.unet, 0)).abs().max().item<double>() > 1e-3);  // x changes something

  const auto ids = torch::randint(0, 100, {2, 9}, torch::kLong);
  lora_call text_call({{{x, 0.8}}}, torch::kCPU, torch::kFloat32);
  torch::Tensor adapted;
  {
    lora_scope scope(&text_call);
    adapted = m.encoder->forward(ids);
  }
  check_same(adapted, merged_x.encoder->forward(ids), "text encoder with LoRA x");
  CHECK((adapted - m.encoder->forward(ids)).abs().max().item<double>() > 1e-3);
}

namespace {

// tiny-sd with a LoRA folder holding x (kohya) and y (diffusers) for the UNet and text encoder.
struct lora_pipeline {
  scratch_folder folder;
  std::shared_ptr<pipeline> pipe = pipeline::load(tiny_sd(), "cpu", "float32", "euler");
  lora_pipeline() {
    tiny_models m;
    const auto targets = lora_targets_of(m.components());
    std::map<std::string, torch::Tensor> tx, ty;
    add_random(tx, targets, "unet", every_adaptable(targets, "unet"), true, 4, 2.0, 31);
    add_random(tx, targets, "text_encoder", {te_q}, true, 4, 2.0, 32);
    add_random(ty, targets, "unet", {attn_q, attn_out, proj_in}, false, 4, 0, 33);
    add_random(ty, targets, "text_encoder", every_adaptable(targets, "text_encoder"), false, 4, 0,
               34);
    testing::write_safetensors(folder.file("x.safetensors"), tx);
    testing::write_safetensors(folder.file("y.safetensors"), ty);
    pipe->set_lora_library(folder.path(), int64_t(64) << 20);
  }
};

sample_request request(uint64_t seed, std::vector<lora_use> loras, float guidance = 7.5f) {
  sample_request r;
  r.prompt = "a red house by the sea";
  r.negative_prompt = "blurry";
  r.steps = 4;
  r.seed = seed;
  r.width = r.height = 32;
  r.guidance_scale = guidance;
  r.loras = std::move(loras);
  return r;
}

rgb_image run_alone(pipeline& pipe, const sample_request& r) {
  auto samples = pipe.start({r});
  while (!samples.front().finished()) pipe.step({&samples.front()});
  return pipe.decode({&samples.front()}).front();
}

int max_level_difference(const rgb_image& a, const rgb_image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  int worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

}  // namespace

TEST_CASE("a batch mixing LoRAs gives each sample the image it gets alone", "[lora][pipeline]") {
  lora_pipeline p;
  const std::vector<sample_request> requests = {request(1, {{"x", 0.8}}), request(2, {}),
                                                request(3, {{"y", 0.6}, {"x", -0.4}}),
                                                request(4, {{"y", 1.0}}, 1.0f)};
  auto samples = p.pipe->start(requests);
  std::vector<sample_state*> batch;
  for (auto& s : samples) batch.push_back(&s);
  while (!samples.front().finished()) p.pipe->step(batch);
  const auto together = p.pipe->decode(batch);
  for (size_t i = 0; i < requests.size(); ++i) {
    INFO("sample " << i);
    CHECK(max_level_difference(together[i], run_alone(*p.pipe, requests[i])) <= 1);
  }
  // The LoRAs change the pictures.
  auto without = requests[0];
  without.loras.clear();
  CHECK(max_level_difference(together[0], run_alone(*p.pipe, without)) > 8);
  without = requests[2];
  without.loras.clear();
  CHECK(max_level_difference(together[2], run_alone(*p.pipe, without)) > 8);
}

TEST_CASE("requests with bad LoRAs are refused by name", "[lora][pipeline]") {
  lora_pipeline p;
  CHECK_THAT(message_of([&] {
               p.pipe->start({request(1, {{"missing", 1.0}})});
             }),
             Catch::Contains("unknown LoRA 'missing'"));
  CHECK_THAT(message_of([&] {
               p.pipe->start({request(1, {{"../x", 1.0}})});
             }),
             Catch::Contains("'../x'"));
  CHECK_THAT(message_of([&] {
               p.pipe->start({request(1, {{"x", 11.0}})});
             }),
             Catch::Contains("scale"));
  CHECK_THAT(message_of([&] {
               p.pipe->start({request(1, {{"x", std::nan("")}})});
             }),
             Catch::Contains("scale"));
  auto plain = pipeline::load(tiny_sd(), "cpu", "float32", "euler");
  CHECK_THAT(message_of([&] {
               plain->start({request(1, {{"x", 1.0}})});
             }),
             Catch::Contains("no LoRA folder"));
}

TEST_CASE("the LoRA cache keeps the most recently used within its byte budget", "[lora]") {
  tiny_models m;
  const auto targets = lora_targets_of(m.components());
  scratch_folder folder;
  for (int i = 0; i < 3; ++i) {
    std::map<std::string, torch::Tensor> t;
    add_random(t, targets, "unet", {attn_q, attn_out}, true, 4, 4.0, 40 + i);
    testing::write_safetensors(folder.file("l" + std::to_string(i) + ".safetensors"), t);
  }
  // Each holds (4 x 32 + 32 x 4) x 2 float32 numbers.
  const int64_t one = (4 * 32 + 32 * 4) * 2 * 4;
  lora_library library(folder.path(), 2 * one + one / 2, m.components(), torch::kCPU,
                       torch::kFloat32);
  const auto first = library.get("l0");
  CHECK(first->bytes == one);
  library.get("l1");
  CHECK(library.cached() == std::vector<std::string>{"l1", "l0"});
  CHECK(library.get("l0") == first);  // from the cache, now the most recent
  library.get("l2");
  CHECK(library.cached() == std::vector<std::string>{"l2", "l0"});
  CHECK(library.cached_bytes() == 2 * one);
  CHECK(library.get("l1") != nullptr);  // read again
  CHECK(library.cached() == std::vector<std::string>{"l1", "l2"});

  lora_library tiny(folder.path(), one / 2, m.components(), torch::kCPU, torch::kFloat32);
  CHECK(tiny.get("l0")->bytes == one);  // served, not kept
  CHECK(tiny.cached().empty());
  CHECK(tiny.cached_bytes() == 0);
}

TEST_CASE("kohya SDXL LoRAs: SGM block names and both text encoders", "[lora][sdxl]") {
  const auto dir = testing::data_dir() + "/tiny-sdxl";
  auto unet = load_unet(dir + "/unet", torch::kCPU, torch::kFloat32);
  auto first = load_text_encoder(dir + "/text_encoder", torch::kCPU, torch::kFloat32);
  auto second = load_text_encoder(dir + "/text_encoder_2", torch::kCPU, torch::kFloat32);
  const auto targets = lora_targets_of(
      {{"unet", unet.get()}, {"text_encoder", first.get()}, {"text_encoder_2", second.get()}});
  // tiny-sdxl: one layer per block; levels: DownBlock2D, CrossAttnDownBlock2D x 2.
  const std::map<std::string, std::pair<std::string, std::string>> keys = {
      {"lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q",
       {"unet", "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"}},
      {"lora_unet_input_blocks_5_1_proj_in", {"unet", "down_blocks.2.attentions.0.proj_in"}},
      {"lora_unet_middle_block_1_transformer_blocks_0_attn2_to_k",
       {"unet", "mid_block.attentions.0.transformer_blocks.0.attn2.to_k"}},
      {"lora_unet_output_blocks_1_1_transformer_blocks_1_ff_net_2",
       {"unet", "up_blocks.0.attentions.1.transformer_blocks.1.ff.net.2"}},
      {"lora_unet_input_blocks_1_0_emb_layers_1",
       {"unet", "down_blocks.0.resnets.0.time_emb_proj"}},
      {"lora_te1_text_model_encoder_layers_0_mlp_fc1",
       {"text_encoder", "text_model.encoder.layers.0.mlp.fc1"}},
      {"lora_te2_text_model_encoder_layers_0_self_attn_v_proj",
       {"text_encoder_2", "text_model.encoder.layers.0.self_attn.v_proj"}}};
  std::map<std::string, torch::Tensor> t;
  for (const auto& [key, where] : keys) {
    INFO(where.second);
    REQUIRE(targets.at(where.first).count(where.second));
    const auto& shape = targets.at(where.first).at(where.second);
    t[key + ".lora_down.weight"] = torch::randn({4, shape.in});
    t[key + ".lora_up.weight"] = torch::randn({shape.out, 4});
  }
  const auto file = parse_lora(weight_map::from_tensors(t), targets, "xl");
  CHECK(file.module_count() == keys.size());
  for (const auto& [key, where] : keys) {
    INFO(key);
    CHECK(file.components.at(where.first).at(where.second).key == key + ".lora_down.weight");
  }
  // A resnet's 3x3 convolution under its SGM name is refused as LoCon, with its key.
  std::map<std::string, torch::Tensor> locon = {
      {"lora_unet_input_blocks_1_0_in_layers_2.lora_down.weight", torch::zeros({4, 16, 3, 3})},
      {"lora_unet_input_blocks_1_0_in_layers_2.lora_up.weight", torch::zeros({16, 4, 1, 1})}};
  CHECK_THAT(message_of([&] { parse_lora(weight_map::from_tensors(locon), targets, "xl"); }),
             Catch::Contains("LoCon") && Catch::Contains("input_blocks_1_0_in_layers_2"));
  // Blocks the model does not have.
  CHECK_THAT(message_of([&] {
               parse_lora(weight_map::from_tensors(
                              {{"lora_unet_input_blocks_9_1_proj_in.alpha", torch::tensor(1.0)}}),
                          targets, "xl");
             }),
             Catch::Contains("input_blocks_9_1_proj_in"));
}
