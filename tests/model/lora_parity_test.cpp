// LoRA parity with diffusers' load_lora_weights on tiny-sd over the cases of
// reference/tiny-sd_lora.safetensors (tools/reference/build_lora.py): one random LoRA in kohya
// names (alpha != rank) and one in diffusers/PEFT names (alpha from its metadata), each at scale
// 0.7 over three schedulers, both at once with weights 0.7 and -0.4, and the same seeds without
// LoRA. The LoRA files themselves are in reference/lora/, read as a request names them.
//
// Bars: latents as every parity test (reference.hpp: check_close), the 8-bit image within one
// level (1/255) of diffusers' float image.
#include <catch2/catch.hpp>
#include <fstream>

#include "model/pipeline.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

std::string reference_path(const std::string& file) {
  return testing::data_dir() + "/reference/" + file;
}

// Missing data fails the test: a parity test that skips itself proves nothing.
nlohmann::json lora_metadata() {
  const auto path = reference_path("lora.json");
  std::ifstream in(path);
  INFO(path << " is missing: make it with tools/reference/generate.sh lora "
               "(tools/reference/README.md)");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("LoRA parity with diffusers' load_lora_weights (tiny-sd)", "[parity][lora]") {
  const auto meta = lora_metadata();
  const auto tensors = reference_path("tiny-sd_lora.safetensors");
  {
    INFO(tensors << " is missing: make it with tools/reference/generate.sh lora");
    REQUIRE(std::ifstream(tensors).good());
  }
  const auto ref = weight_map::open(tensors);
  auto pipe = pipeline::load(testing::data_dir() + "/" + meta.at("pipeline").get<std::string>(),
                             "cpu", "float32", "ddim");
  pipe->set_lora_library(reference_path("lora"), int64_t(64) << 20);
  const auto& cases = meta.at("cases");
  bool kohya = false, peft = false, both = false;
  for (const auto& c : cases) {
    const auto id = c.at("name").get<std::string>();
    INFO("case " << id);
    sample_request r;
    r.prompt = meta.at("prompt").get<std::string>();
    r.negative_prompt = c.at("negative_prompt").get<std::string>();
    r.guidance_scale = c.at("guidance_scale").get<float>();
    r.steps = c.at("steps").get<int>();
    r.seed = c.at("seed").get<uint64_t>();
    r.width = c.at("width").get<int>();
    r.height = c.at("height").get<int>();
    r.scheduler = c.at("scheduler").get<std::string>();
    for (const auto& lora : c.at("loras"))
      r.loras.push_back({lora.at("name").get<std::string>(), lora.at("scale").get<double>()});
    kohya |= id.rfind("kohya.", 0) == 0;
    peft |= id.rfind("peft.", 0) == 0;
    both |= r.loras.size() == 2;
    auto samples = pipe->start({r});
    auto& s = samples.front();
    while (!s.finished()) pipe->step({&s});
    testing::check_close(s.latents, ref.get(id + ".final_latents"), "final latents");
    testing::check_image(pipe->decode({&s}).front(), ref.get(id + ".image")[0], "image");
  }
  // The file must hold what it claims: each format alone and both together.
  CHECK(kohya);
  CHECK(peft);
  CHECK(both);
}
