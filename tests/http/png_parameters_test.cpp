#include "http/png_parameters.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

#include "tests/support/png_builder.hpp"
#include "tests/support/png_check.hpp"

using muse::http::png_parameters;
using muse::http::with_png_text;

namespace {

muse::actors::sample_request sample() {
  muse::actors::sample_request s;
  s.prompt = "a red fox";
  s.steps = 30;
  s.guidance_scale = 7.0f;
  s.seed = 1234;
  s.width = 64;
  s.height = 48;
  return s;
}

}  // namespace

TEST_CASE("parameters are written as AUTOMATIC1111 writes them", "[png_parameters]") {
  auto s = sample();
  s.scheduler = "euler_ancestral";
  CHECK(png_parameters(s, "muse-tiny") ==
        "a red fox\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x48, "
        "Model: muse-tiny");
  s.negative_prompt = "blurry";
  s.guidance_scale = 7.5f;
  s.init_image.width = 64;
  s.init_image.height = 48;
  s.strength = 0.6;
  s.scheduler = "dpmpp_2m_karras";
  CHECK(png_parameters(s, "sdxl") ==
        "a red fox\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, "
        "Seed: 1234, Size: 64x48, Model: sdxl, Denoising strength: 0.6");
  s.scheduler = "pndm";
  CHECK(png_parameters(s, "m").find("Sampler: PLMS,") != std::string::npos);
}

TEST_CASE("the text chunk reads back through libpng, ASCII as tEXt, UTF-8 as iTXt",
          "[png_parameters]") {
  const std::string png = muse::testing::make_rgb_png(2, 2, std::vector<uint8_t>(12, 200));
  const std::string ascii = with_png_text(png, "parameters", "a fox\nSteps: 3");
  CHECK(ascii.find("tEXtparameters") != std::string::npos);
  CHECK(muse::testing::png_texts(ascii).at("parameters") == "a fox\nSteps: 3");
  CHECK(muse::testing::decode_png(ascii).rgb == muse::testing::decode_png(png).rgb);

  const std::string utf8_text = "un renard roux \xc3\xa0 l'aube, \xe7\x8b\x90";
  const std::string utf8 = with_png_text(png, "parameters", utf8_text);
  CHECK(utf8.find("iTXtparameters") != std::string::npos);
  CHECK(muse::testing::png_texts(utf8).at("parameters") == utf8_text);
  CHECK(muse::testing::decode_png(utf8).rgb == muse::testing::decode_png(png).rgb);
}

TEST_CASE("only a PNG takes a text chunk", "[png_parameters]") {
  CHECK_THROWS_AS(with_png_text("\x89PNG-fake", "parameters", "x"), std::invalid_argument);
  const std::string png = muse::testing::make_rgb_png(1, 1, {1, 2, 3});
  CHECK_THROWS_AS(with_png_text(png, "", "x"), std::invalid_argument);
  CHECK_THROWS_AS(with_png_text(png, std::string(80, 'k'), "x"), std::invalid_argument);
}
