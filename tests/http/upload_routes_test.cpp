// Uploads over HTTP against the fake gateway: multipart/form-data on POST /api/v1/generate and
// /api/v1/jobs, and OpenAI's POST /v1/images/edits and /v1/images/variations (image to image),
// sent by libcurl's MIME API as clients send them; the order the gateway gets, and every 400.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "http/base64.hpp"
#include "http/openai_request.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/jpeg_builder.hpp"
#include "tests/support/png_builder.hpp"
#include "tests/support/server_on_fake_gateway.hpp"

using Catch::Matchers::Contains;
using muse::testing::form_field;
using muse::testing::http_request;
using muse::testing::http_response;
using nlohmann::json;

namespace {

muse::config::deployment_config upload_config() {
  muse::config::deployment_config config;
  config.gateway.host = "127.0.0.1";
  config.gateway.http_port = 0;
  config.gateway.http_threads = 2;
  config.gateway.max_body_bytes = 64 * 1024;
  config.gateway.max_init_image_bytes = 32 * 1024;
  config.gateway.max_prompt_chars = 100;
  config.gateway.request_timeout_s = 30;
  config.gateway.public_url = "http://gateway.test";
  config.models[0].width = 64;
  config.models[0].height = 64;
  config.models[0].fast_steps = 20;
  config.models[0].quality_steps = 40;
  config.models[0].max_images_per_request = 4;
  config.models[0].scheduler = "ddim";
  return config;
}

struct upload_server : muse::testing::server_on_fake_gateway {
  upload_server() : server_on_fake_gateway(upload_config()) {}
};

std::vector<uint8_t> gradient(int width, int height) {
  std::vector<uint8_t> rgb;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) rgb.insert(rgb.end(), {uint8_t(x * 4), uint8_t(y * 4), 77});
  return rgb;
}

form_field png_file(const std::string& name, int width = 32, int height = 48) {
  return {name, muse::testing::make_rgb_png(width, height, gradient(width, height)), "in.png",
          "image/png"};
}

form_field jpeg_file(const std::string& name, int width = 48, int height = 32) {
  return {name, muse::testing::make_flat_jpeg(width, height, 30, 160, 90), "in.jpg", "image/jpeg"};
}

json error_of(const http_response& response) {
  const json body = json::parse(response.body);
  REQUIRE(body.contains("error"));
  return body["error"];
}

}  // namespace

TEST_CASE("generate takes a multipart form: fields as text, init_image as a file", "[upload]") {
  upload_server s;
  auto response = s.post_form("/api/v1/generate", {{"prompt", "a red fox"},
                                                   {"steps", "10"},
                                                   {"strength", "0.5"},
                                                   {"seed", "42"},
                                                   {"n", "2"},
                                                   {"negative_prompt", ""},
                                                   png_file("init_image")});
  INFO(response.body);
  REQUIRE(response.status == 200);
  const json body = json::parse(response.body);
  CHECK(body["images"].size() == 2);
  CHECK(body["images"][0]["seed"] == 42);
  const auto orders = s.gateway.submitted();
  REQUIRE(orders.size() == 1);
  const auto& sample = orders[0].samples.at(0);
  CHECK(sample.prompt == "a red fox");
  CHECK(sample.steps == 10);
  CHECK(sample.strength == 0.5);
  CHECK(sample.negative_prompt.empty());
  CHECK(sample.width == 32);
  CHECK(sample.height == 48);
  CHECK(sample.init_image.pixels == gradient(32, 48));

  // A JPEG file, and the base64 text of a PNG as the JSON key would carry it.
  response = s.post_form("/api/v1/generate", {{"prompt", "a fox"}, jpeg_file("init_image")});
  REQUIRE(response.status == 200);
  const auto jpeg_sample = s.gateway.submitted().at(1).samples.at(0);
  CHECK(jpeg_sample.width == 48);
  CHECK(jpeg_sample.height == 32);
  CHECK(std::abs(jpeg_sample.init_image.pixels.at(1) - 160) <= 3);
  CHECK(jpeg_sample.strength == 0.8);
  response = s.post_form("/api/v1/generate",
                         {{"prompt", "a fox"},
                          {"init_image", muse::http::base64_encode(muse::testing::make_rgb_png(
                                             32, 32, gradient(32, 32)))}});
  CHECK(response.status == 200);
  // A form without an image is text to image.
  response = s.post_form("/api/v1/generate", {{"prompt", "a fox"}, {"width", "96"}});
  REQUIRE(response.status == 200);
  CHECK(s.gateway.submitted().at(3).samples.at(0).width == 96);
}

TEST_CASE("a job takes a multipart form too", "[upload]") {
  upload_server s;
  auto response =
      s.post_form("/api/v1/jobs", {{"prompt", "a fox"}, {"steps", "10"}, jpeg_file("init_image")});
  INFO(response.body);
  REQUIRE(response.status == 202);
  CHECK(json::parse(response.body)["progress"]["total"] == 8);  // int(10 x 0.8)
  REQUIRE(!s.gateway.wait_submitted(1).empty());
  CHECK(s.gateway.submitted().at(0).samples.at(0).init_image.width == 48);
}

TEST_CASE("bad multipart forms on the native routes are 400s naming the field", "[upload]") {
  upload_server s;
  auto field_error = [&](const std::string& path, const std::vector<form_field>& form) {
    const auto response = s.post_form(path, form);
    INFO(response.body);
    CHECK(response.status == 400);
    const auto error = error_of(response);
    return error.value("field", "") + ": " + error["message"].get<std::string>();
  };
  for (const std::string path : {"/api/v1/generate", "/api/v1/jobs"}) {
    CHECK_THAT(field_error(path, {{"prompt", "a"}, {"steps", "many"}}),
               Contains("steps: steps must be an integer"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, {"strength", "0.5"}}),
               Contains("strength: strength applies to an init_image only"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, {"colour", "red"}}),
               Contains("colour: unknown field 'colour'"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, {"prompt", "b"}}),
               Contains("prompt: prompt is given twice"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, png_file("init_image"), png_file("init_image")}),
               Contains("init_image: init_image is given twice"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, png_file("prompt")}),
               Contains("prompt: prompt must be a text field, not a file"));
    CHECK_THAT(field_error(path, {{"prompt", "\xff"}}), Contains("prompt"));
    CHECK_THAT(field_error(path, {{"steps", "5"}}), Contains("prompt: prompt is required"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, {"init_image", "abc", "x.gif", "image/gif"}}),
               Contains("init_image: init_image: not a PNG or JPEG image"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, jpeg_file("init_image", 40, 32)}),
               Contains("init_image: init_image is 40x32; this model takes"));
    CHECK_THAT(field_error(path, {{"prompt", "a"}, png_file("init_image"), {"width", "64"}}),
               Contains("width: init_image is 32x48"));
  }
  // Over gateway.max_init_image_bytes, uploaded.
  const std::string big(33 * 1024, 'x');
  CHECK_THAT(field_error("/api/v1/generate", {{"prompt", "a"}, {"init_image", big, "b.png", ""}}),
             Contains("init_image: init_image must be at most 32768 bytes"));
  // Malformed framing: invalid_multipart, saying what.
  const auto response = http_request("POST", s.url("/api/v1/generate"), "--abc\r\nno headers\r\n",
                                     {"Content-Type: multipart/form-data; boundary=abc"});
  CHECK(response.status == 400);
  CHECK(error_of(response)["code"] == "invalid_multipart");
  CHECK_THAT(error_of(response)["message"].get<std::string>(), Contains("part 1"));
  const auto no_boundary =
      http_request("POST", s.url("/api/v1/jobs"), "x", {"Content-Type: multipart/form-data"});
  CHECK(no_boundary.status == 400);
  CHECK_THAT(error_of(no_boundary)["message"].get<std::string>(), Contains("no boundary"));
  CHECK(s.gateway.submitted().empty());
}

TEST_CASE("OpenAI edits: image and prompt become image to image", "[upload][openai]") {
  upload_server s;
  auto response = s.post_form("/v1/images/edits", {png_file("image"),
                                                   {"prompt", "make it blue"},
                                                   {"n", "2"},
                                                   {"size", "32x48"},
                                                   {"model", "muse-tiny"},
                                                   {"response_format", "b64_json"}});
  INFO(response.body);
  REQUIRE(response.status == 200);
  json body = json::parse(response.body);
  CHECK(body["created"].is_number());
  REQUIRE(body["data"].size() == 2);
  CHECK(body["data"][0]["b64_json"].is_string());
  const auto sample = s.gateway.submitted().at(0).samples.at(0);
  CHECK(sample.prompt == "make it blue");
  CHECK(sample.strength == muse::http::openai_edit_strength);
  CHECK(sample.init_image.pixels == gradient(32, 48));
  CHECK(sample.steps == 20);
  CHECK(s.gateway.submitted().at(0).model == "muse-tiny");

  // A model this server does not serve (OpenAI's own names included) is a 400 on `model`.
  auto unknown =
      s.post_form("/v1/images/edits", {png_file("image"), {"prompt", "p"}, {"model", "dall-e-2"}});
  CHECK(unknown.status == 400);
  CHECK(json::parse(unknown.body)["error"]["param"] == "model");

  // `image[]`, as the SDKs name a list of one; a JPEG; url answers; hd quality.
  response = s.post_form(
      "/v1/images/edits",
      {jpeg_file("image[]"), {"prompt", "p"}, {"response_format", "url"}, {"quality", "hd"}});
  REQUIRE(response.status == 200);
  body = json::parse(response.body);
  CHECK_THAT(body["data"][0]["url"].get<std::string>(),
             Contains("http://gateway.test/api/v1/images/"));
  CHECK(s.gateway.submitted().at(1).samples.at(0).steps == 40);
  CHECK(s.gateway.submitted().at(1).samples.at(0).width == 48);
}

TEST_CASE("OpenAI variations: an image and no prompt", "[upload][openai]") {
  upload_server s;
  auto response = s.post_form("/v1/images/variations", {jpeg_file("image"), {"n", "3"}});
  INFO(response.body);
  REQUIRE(response.status == 200);
  CHECK(json::parse(response.body)["data"].size() == 3);
  const auto sample = s.gateway.submitted().at(0).samples.at(0);
  CHECK(sample.prompt.empty());
  CHECK(sample.strength == muse::http::openai_variation_strength);
  CHECK(sample.height == 32);
}

TEST_CASE("OpenAI edits and variations refuse what does not map, in OpenAI's shape",
          "[upload][openai]") {
  upload_server s;
  // "param: message" of the 400.
  auto refusal = [&](const std::string& path, const std::vector<form_field>& form) {
    const auto response = s.post_form(path, form);
    INFO(response.body);
    CHECK(response.status == 400);
    const auto error = error_of(response);
    CHECK(error["type"] == "invalid_request_error");
    return (error["param"].is_string() ? error["param"].get<std::string>() : "null") + ": " +
           error["message"].get<std::string>();
  };
  const std::string edits = "/v1/images/edits", variations = "/v1/images/variations";
  CHECK_THAT(refusal(edits, {png_file("image"), {"prompt", "p"}, png_file("mask")}),
             Contains("mask: inpainting is not supported"));
  CHECK_THAT(refusal(variations, {png_file("image"), {"mask", "x"}}),
             Contains("mask: inpainting is not supported"));
  CHECK_THAT(refusal(edits, {png_file("image")}), Contains("prompt: prompt is required"));
  CHECK_THAT(refusal(edits, {png_file("image"), {"prompt", " "}}),
             Contains("prompt: prompt must not be empty"));
  CHECK_THAT(refusal(variations, {png_file("image"), {"prompt", "p"}}),
             Contains("prompt: unknown field 'prompt' (variations take no prompt)"));
  for (const auto& path : {edits, variations}) {
    const std::vector<form_field> prompt =
        path == edits ? std::vector<form_field>{{"prompt", "p"}} : std::vector<form_field>{};
    auto with = [&](std::vector<form_field> form) {
      form.insert(form.end(), prompt.begin(), prompt.end());
      return refusal(path, form);
    };
    CHECK_THAT(with({{"n", "1"}}), Contains("image: image is required"));
    CHECK_THAT(with({{"image", "abc"}}), Contains("image: image must be a file"));
    CHECK_THAT(with({png_file("image"), png_file("image[]")}),
               Contains("image: one image only: 2 were sent"));
    CHECK_THAT(with({png_file("image"), {"size", "64x64"}}), Contains("size: init_image is 32x48"));
    CHECK_THAT(with({png_file("image"), {"size", "big"}}), Contains("size: size must be"));
    CHECK_THAT(with({png_file("image"), {"n", "9"}}), Contains("n: n must be 1..4"));
    CHECK_THAT(with({png_file("image"), {"n", "two"}}), Contains("n: n must be an integer"));
    CHECK_THAT(with({png_file("image"), {"response_format", "png"}}),
               Contains("response_format: response_format must be"));
    CHECK_THAT(with({png_file("image"), {"quality", "best"}}), Contains("quality: quality must"));
    CHECK_THAT(with({png_file("image"), {"stream", "true"}}), Contains("stream: unknown field"));
    CHECK_THAT(with({png_file("image"), png_file("extra")}),
               Contains("extra: extra must be a text field, not a file"));
    CHECK_THAT(with({{"image", "GIF89a", "a.gif", "image/gif"}}),
               Contains("init_image: not a PNG or JPEG image"));
    CHECK_THAT(with({png_file("image", 40, 48)}), Contains("is 40x48; this model takes"));
    // Not multipart at all.
    const auto json_body = http_request("POST", s.url(path), R"({"prompt": "p"})");
    CHECK(json_body.status == 400);
    CHECK_THAT(error_of(json_body)["message"].get<std::string>(),
               Contains("this route takes multipart/form-data"));
    // Malformed framing.
    const auto broken = http_request("POST", s.url(path), "--b\r\n\r\nx",
                                     {"Content-Type: multipart/form-data; boundary=b"});
    CHECK(broken.status == 400);
    CHECK(error_of(broken)["code"] == "invalid_multipart");
  }
  CHECK(s.gateway.submitted().empty());
}
