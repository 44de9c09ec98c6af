// Image-to-image fields of a generate request: init_image (base64 PNG) and strength, read and
// validated into each sample; every bad input a 400 naming the field and saying why.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "http/api_error.hpp"
#include "http/base64.hpp"
#include "http/generate_request.hpp"
#include "tests/support/jpeg_builder.hpp"
#include "tests/support/png_builder.hpp"

using muse::http::api_error;
using muse::http::base64_encode;
using muse::http::parse_generate_request;
using muse::http::request_rules;
using nlohmann::json;

namespace {

request_rules test_rules() {
  request_rules rules;
  rules.limits.min_size = 32;
  rules.limits.max_size = 128;
  rules.limits.size_multiple = 16;
  rules.limits.max_pixels = 128 * 64;
  rules.limits.max_steps = 100;
  rules.limits.schedulers = {"ddim", "euler"};
  rules.model.fast_steps = 10;
  rules.model.quality_steps = 50;
  rules.model.width = 64;
  rules.model.height = 48;
  rules.model.max_images_per_request = 4;
  rules.model.scheduler = "ddim";
  rules.max_prompt_chars = 100;
  rules.max_init_image_bytes = 20000;
  return rules;
}

std::vector<uint8_t> pattern(int width, int height) {
  std::vector<uint8_t> rgb;
  for (int i = 0; i < width * height * 3; ++i) rgb.push_back(uint8_t(i * 7 % 256));
  return rgb;
}

std::string png_base64(int width, int height) {
  return base64_encode(muse::testing::make_rgb_png(width, height, pattern(width, height)));
}

json body_with(const json& fields) {
  json body = {{"prompt", "a cat"}, {"init_image", png_base64(32, 48)}};
  body.update(fields);
  return body;
}

// "field: message" of the 400 a body gets, or "accepted".
std::string rejection(const json& body, const request_rules& rules = test_rules()) {
  try {
    parse_generate_request(body.dump(), rules, 7);
    return "accepted";
  } catch (const api_error& error) {
    REQUIRE(error.status() == 400);
    CHECK(error.code() == "invalid_request");
    return error.field() + ": " + error.what();
  }
}

}  // namespace

TEST_CASE("an init image sets each sample's picture, size and strength", "[init_image]") {
  auto request = parse_generate_request(body_with({{"n", 2}}).dump(), test_rules(), 5);
  REQUIRE(request.samples.size() == 2);
  CHECK(request.steps == 10);
  CHECK(request.denoising_steps == 8);  // int(10 x 0.8)
  for (const auto& sample : request.samples) {
    CHECK(sample.init_image.width == 32);
    CHECK(sample.init_image.height == 48);
    CHECK(sample.init_image.pixels == pattern(32, 48));
    // The size is the image's; strength defaults to diffusers' 0.8.
    CHECK(sample.width == 32);
    CHECK(sample.height == 48);
    CHECK(sample.strength == 0.8);
  }
  auto strong = parse_generate_request(
      body_with({{"strength", 0.35}, {"width", 32}, {"height", 48}}).dump(), test_rules(), 5);
  CHECK(strong.samples[0].strength == 0.35);
  CHECK(strong.denoising_steps == 3);  // int(10 x 0.35)
  // A data URL, as a browser's FileReader gives it, is read too.
  auto data_url = body_with({{"init_image", "data:image/png;base64," + png_base64(32, 48)}});
  CHECK(parse_generate_request(data_url.dump(), test_rules(), 5).samples[0].init_image.width == 32);
  // A JPEG is read as well, told from a PNG by its signature.
  auto jpeg = body_with(
      {{"init_image", base64_encode(muse::testing::make_flat_jpeg(48, 32, 200, 100, 50))}});
  const auto from_jpeg = parse_generate_request(jpeg.dump(), test_rules(), 5).samples[0];
  CHECK(from_jpeg.width == 48);
  CHECK(from_jpeg.height == 32);
  REQUIRE(from_jpeg.init_image.pixels.size() == 48 * 32 * 3);
  CHECK(std::abs(from_jpeg.init_image.pixels[0] - 200) <= 2);
  // Without an init image nothing changes.
  auto text = parse_generate_request(R"({"prompt": "a cat"})", test_rules(), 5);
  CHECK(text.samples[0].init_image.width == 0);
  CHECK(text.samples[0].init_image.pixels.empty());
  CHECK(text.denoising_steps == 10);
}

TEST_CASE("bad init images and strengths are 400s that say why", "[init_image]") {
  using Catch::Contains;
  CHECK_THAT(rejection(body_with({{"init_image", 5}})),
             Contains("init_image: init_image must be a string"));
  CHECK_THAT(rejection(body_with({{"init_image", "not base64!"}})),
             Contains("init_image: init_image must be a base64 PNG"));
  CHECK_THAT(rejection(body_with({{"init_image", "data:image/png,abc"}})),
             Contains("init_image: init_image must be a base64 PNG"));
  CHECK_THAT(rejection(body_with({{"init_image", base64_encode("GIF89a, not a PNG at all")}})),
             Contains("init_image: init_image: not a PNG or JPEG image"));
  CHECK_THAT(rejection(body_with({{"init_image", base64_encode("\xFF\xD8\xFF\xE0 jpeg bytes")}})),
             Contains("init_image: init_image: not a valid JPEG image"));
  auto png = muse::testing::make_rgb_png(32, 48, pattern(32, 48));
  CHECK_THAT(rejection(body_with({{"init_image", base64_encode(png.substr(0, png.size() - 30))}})),
             Contains("init_image: init_image: not a valid PNG image"));

  // Too large: over gateway.max_init_image_bytes, whether seen from the base64 or the bytes.
  auto rules = test_rules();
  rules.max_init_image_bytes = png.size() - 1;
  CHECK_THAT(rejection(body_with(json::object()), rules),
             Contains("init_image must be at most " + std::to_string(png.size() - 1) +
                      " bytes (gateway.max_init_image_bytes)"));
  rules.max_init_image_bytes = 100;
  CHECK_THAT(rejection(body_with(json::object()), rules), Contains("at most 100 bytes"));

  // Sizes the model cannot take, naming its rule; a width or height other than the image's.
  const std::string rule =
      "this model takes width and height in 32..128, multiples of 16, at most 8192 pixels in all";
  CHECK_THAT(rejection(body_with({{"init_image", png_base64(40, 48)}})),
             Contains("init_image: init_image is 40x48; " + rule + ": resize or crop it"));
  CHECK_THAT(rejection(body_with({{"init_image", png_base64(16, 48)}})), Contains("16x48"));
  CHECK_THAT(rejection(body_with({{"init_image", png_base64(128, 128)}})), Contains("128x128"));
  CHECK_THAT(rejection(body_with({{"width", 64}})),
             Contains("width: init_image is 32x48; width and height must be left out or be its"));
  CHECK_THAT(rejection(body_with({{"height", 32}})), Contains("height: init_image is 32x48"));

  // 16-bit PNGs are not read.
  muse::testing::png_spec deep;
  deep.width = 32;
  deep.height = 32;
  deep.bit_depth = 16;
  deep.pixel = [](int x, int y) { return std::vector<int>{x * 2000, y * 2000, 0}; };
  CHECK_THAT(rejection(body_with({{"init_image", base64_encode(muse::testing::make_png(deep))}})),
             Contains("init_image: init_image: a 16-bit PNG"));

  // strength: (0, 1], a number, with an init image, leaving at least one step.
  for (double bad : {0.0, -0.5, 1.0001, 2.0})
    CHECK_THAT(rejection(body_with({{"strength", bad}})),
               Contains("strength: strength must be in (0, 1]"));
  CHECK_THAT(rejection(body_with({{"strength", "0.5"}})),
             Contains("strength: strength must be a number"));
  CHECK_THAT(rejection(json{{"prompt", "a cat"}, {"strength", 0.5}}),
             Contains("strength: strength applies to an init_image only"));
  CHECK_THAT(rejection(body_with({{"strength", 0.05}})),
             Contains("strength: steps x strength must be at least 1"));
  CHECK_THAT(rejection(body_with({{"steps", 1}})), Contains("steps x strength must be at least 1"));
  CHECK(rejection(body_with({{"strength", 1.0}, {"steps", 1}})) == "accepted");
  CHECK(rejection(body_with({{"strength", nullptr}})) == "accepted");
}
