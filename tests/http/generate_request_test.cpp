#include "http/generate_request.hpp"

#include <catch2/catch.hpp>

#include "http/api_error.hpp"

using muse::http::api_error;
using muse::http::parse_generate_request;
using muse::http::parse_predict_request;
using muse::http::request_rules;

namespace {

request_rules test_rules() {
  request_rules rules;
  rules.limits.min_size = 32;
  rules.limits.max_size = 128;
  rules.limits.size_multiple = 16;
  rules.limits.max_steps = 100;
  rules.limits.schedulers = {"ddim", "euler"};
  rules.model.fast_steps = 25;
  rules.model.quality_steps = 50;
  rules.model.guidance_scale = 7.5f;
  rules.model.width = 64;
  rules.model.height = 48;
  rules.model.max_images_per_request = 4;
  rules.model.scheduler = "ddim";
  rules.max_prompt_chars = 10;
  return rules;
}

// The field and code of the error a body gets, or "accepted".
std::string rejection(const std::string& body) {
  try {
    parse_generate_request(body, test_rules(), 7);
    return "accepted";
  } catch (const api_error& error) {
    REQUIRE(error.status() == 400);
    return error.code() + ":" + error.field();
  }
}

}  // namespace

TEST_CASE("a minimal generate request takes its defaults from the config", "[generate_request]") {
  auto request = parse_generate_request(R"({"prompt": "a cat"})", test_rules(), 1234);
  REQUIRE(request.samples.size() == 1);
  const auto& sample = request.samples[0];
  CHECK(sample.prompt == "a cat");
  CHECK(sample.negative_prompt.empty());
  CHECK(sample.steps == 25);
  CHECK(sample.guidance_scale == 7.5f);
  CHECK(sample.width == 64);
  CHECK(sample.height == 48);
  CHECK(sample.scheduler == "ddim");
  CHECK(sample.seed == 1234);
  CHECK(request.seed == 1234);
  CHECK(request.steps == 25);
}

TEST_CASE("every field of a generate request is honoured", "[generate_request]") {
  auto request = parse_generate_request(
      R"({"prompt": "a dog", "negative_prompt": "blur", "steps": 30, "guidance_scale": 3,
          "seed": 99, "width": 128, "height": 32, "n": 3, "scheduler": "euler"})",
      test_rules(), 1);
  REQUIRE(request.samples.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    const auto& sample = request.samples[i];
    CHECK(sample.prompt == "a dog");
    CHECK(sample.negative_prompt == "blur");
    CHECK(sample.steps == 30);
    CHECK(sample.guidance_scale == 3.0f);
    CHECK(sample.width == 128);
    CHECK(sample.height == 32);
    CHECK(sample.scheduler == "euler");
    CHECK(sample.seed == 99 + i);
  }
}

TEST_CASE("quality picks the config's step counts and steps overrides it", "[generate_request]") {
  auto rules = test_rules();
  CHECK(parse_generate_request(R"({"prompt": "x", "quality": "fast"})", rules, 0).steps == 25);
  CHECK(parse_generate_request(R"({"prompt": "x", "quality": "quality"})", rules, 0).steps == 50);
  CHECK(parse_generate_request(R"({"prompt": "x", "quality": "quality", "steps": 5})", rules, 0)
            .steps == 5);
  CHECK(parse_generate_request(R"({"prompt": "x", "steps": 12.0})", rules, 0).steps == 12);
}

TEST_CASE("null counts as an absent optional field", "[generate_request]") {
  auto request =
      parse_generate_request(R"({"prompt": "x", "seed": null, "n": null})", test_rules(), 5);
  CHECK(request.samples.size() == 1);
  CHECK(request.seed == 5);
}

TEST_CASE("bad bodies are rejected naming the field", "[generate_request]") {
  CHECK(rejection("not json") == "invalid_json:");
  CHECK(rejection("[1, 2]") == "invalid_json:");
  CHECK(rejection("") == "invalid_json:");
  CHECK(rejection(R"({})") == "invalid_request:prompt");
  CHECK(rejection(R"({"prompt": ""})") == "invalid_request:prompt");
  CHECK(rejection(R"({"prompt": "   "})") == "invalid_request:prompt");
  CHECK(rejection(R"({"prompt": 5})") == "invalid_request:prompt");
  CHECK(rejection(R"({"prompt": "12345678901"})") == "invalid_request:prompt");
  CHECK(rejection(R"({"prompt": "x", "colour": "red"})") == "invalid_request:colour");
  CHECK(rejection(R"({"prompt": "x", "negative_prompt": 1})") == "invalid_request:negative_prompt");
  CHECK(rejection(R"({"prompt": "x", "negative_prompt": "12345678901"})") ==
        "invalid_request:negative_prompt");
  CHECK(rejection(R"({"prompt": "x", "quality": "best"})") == "invalid_request:quality");
  CHECK(rejection(R"({"prompt": "x", "steps": 0})") == "invalid_request:steps");
  CHECK(rejection(R"({"prompt": "x", "steps": 101})") == "invalid_request:steps");
  CHECK(rejection(R"({"prompt": "x", "steps": 2.5})") == "invalid_request:steps");
  CHECK(rejection(R"({"prompt": "x", "steps": "20"})") == "invalid_request:steps");
  CHECK(rejection(R"({"prompt": "x", "guidance_scale": -1})") == "invalid_request:guidance_scale");
  CHECK(rejection(R"({"prompt": "x", "guidance_scale": 30.5})") ==
        "invalid_request:guidance_scale");
  CHECK(rejection(R"({"prompt": "x", "guidance_scale": true})") ==
        "invalid_request:guidance_scale");
  CHECK(rejection(R"({"prompt": "x", "seed": -1})") == "invalid_request:seed");
  CHECK(rejection(R"({"prompt": "x", "seed": 9007199254740992})") == "invalid_request:seed");
  CHECK(rejection(R"({"prompt": "x", "seed": 9007199254740991, "n": 2})") ==
        "invalid_request:seed");
  CHECK(rejection(R"({"prompt": "x", "width": 16})") == "invalid_request:width");
  CHECK(rejection(R"({"prompt": "x", "width": 144})") == "invalid_request:width");
  CHECK(rejection(R"({"prompt": "x", "width": 72})") == "invalid_request:width");
  CHECK(rejection(R"({"prompt": "x", "height": 40})") == "invalid_request:height");
  CHECK(rejection(R"({"prompt": "x", "n": 0})") == "invalid_request:n");
  CHECK(rejection(R"({"prompt": "x", "n": 5})") == "invalid_request:n");
  CHECK(rejection(R"({"prompt": "x", "scheduler": "pndm"})") == "invalid_request:scheduler");
  CHECK(rejection(R"({"prompt": "x", "scheduler": 3})") == "invalid_request:scheduler");
}

TEST_CASE("the largest seed is accepted and returned exactly", "[generate_request]") {
  auto request =
      parse_generate_request(R"({"prompt": "x", "seed": 9007199254740991})", test_rules(), 0);
  CHECK(request.seed == muse::http::max_seed);
}

TEST_CASE("a drawn seed leaves room for n consecutive seeds", "[generate_request]") {
  auto request =
      parse_generate_request(R"({"prompt": "x", "n": 4})", test_rules(), muse::http::max_seed);
  CHECK(request.samples.back().seed == muse::http::max_seed);
}

TEST_CASE("prompt length counts characters, not bytes", "[generate_request]") {
  CHECK(muse::http::utf8_length("\xc3\xa9t\xc3\xa9") == 3);  // "été"
  // Ten two-byte characters: 20 bytes, within a 10-character limit.
  CHECK(rejection(R"({"prompt": "éééééééééé"})") == "accepted");
  CHECK(rejection(R"({"prompt": "ééééééééééé"})") == "invalid_request:prompt");
}

TEST_CASE("invalid UTF-8 in a field is a 400 naming it; elsewhere it is invalid JSON",
          "[generate_request]") {
  CHECK(rejection("{\"prompt\": \"\xff\xfe\"}") == "invalid_request:prompt");
  CHECK(rejection("{\"prompt\": \"x\", \"\xff\": 1}") == "invalid_json:");
}

TEST_CASE("a model without a scheduler list accepts only the configured one",
          "[generate_request]") {
  auto rules = test_rules();
  rules.limits.schedulers.clear();
  CHECK(parse_generate_request(R"({"prompt": "x", "scheduler": "ddim"})", rules, 0)
            .samples[0]
            .scheduler == "ddim");
  CHECK_THROWS_AS(parse_generate_request(R"({"prompt": "x", "scheduler": "euler"})", rules, 0),
                  api_error);
}

TEST_CASE("the seed's predict body maps high_quality to the quality steps", "[predict_request]") {
  auto rules = test_rules();
  auto fast = parse_predict_request(R"({"prompt": "a cat"})", rules, 3);
  REQUIRE(fast.samples.size() == 1);
  CHECK(fast.steps == 25);
  CHECK(fast.samples[0].seed == 3);
  CHECK(fast.samples[0].width == 64);
  CHECK(parse_predict_request(R"({"prompt": "a cat", "high_quality": true})", rules, 3).steps ==
        50);
  CHECK(parse_predict_request(R"({"prompt": "a cat", "high_quality": false})", rules, 3).steps ==
        25);
  // The seed's server ignored fields it did not know; so does this route.
  CHECK(parse_predict_request(R"({"prompt": "a cat", "num_images": 1})", rules, 3).steps == 25);
}

TEST_CASE("bad predict bodies are rejected naming the field", "[predict_request]") {
  auto field_of = [](const std::string& body) {
    try {
      parse_predict_request(body, test_rules(), 0);
      return std::string("accepted");
    } catch (const api_error& error) {
      return error.code() + ":" + error.field();
    }
  };
  CHECK(field_of("{") == "invalid_json:");
  CHECK(field_of(R"({"high_quality": true})") == "invalid_request:prompt");
  CHECK(field_of(R"({"prompt": ""})") == "invalid_request:prompt");
  CHECK(field_of(R"({"prompt": "x", "high_quality": "yes"})") == "invalid_request:high_quality");
}

TEST_CASE("a picture over the model's max_pixels is a 400 naming the limit") {
  auto rules = test_rules();
  rules.limits.max_pixels = 64 * 96;
  rules.limits.memory_budget_mb = 300;
  CHECK(
      parse_generate_request(R"({"prompt":"a","width":64,"height":96})", rules, 1).samples.size() ==
      1);
  CHECK(parse_generate_request(R"({"prompt":"a","width":128,"height":48})", rules, 1)
            .samples.size() == 1);
  try {
    parse_generate_request(R"({"prompt":"a","width":128,"height":128})", rules, 1);
    FAIL("accepted");
  } catch (const api_error& error) {
    CHECK(error.status() == 400);
    CHECK(error.field() == "width");
    CHECK_THAT(error.what(), Catch::Contains("128x128") && Catch::Contains("6144 pixels") &&
                                 Catch::Contains("memory budget of 300 MB") &&
                                 Catch::Contains("largest square that fits is 64x64"));
  }
  // Only the height given: the height is named. The default size (64x48) is checked too.
  try {
    parse_generate_request(R"({"prompt":"a","height":128})", rules, 1);
    FAIL("accepted");
  } catch (const api_error& error) {
    CHECK(error.field() == "height");
  }
  rules.limits.max_pixels = 32 * 32;
  CHECK_THROWS_AS(parse_generate_request(R"({"prompt":"a"})", rules, 1), api_error);
  CHECK_THROWS_AS(parse_predict_request(R"({"prompt":"a"})", rules, 1), api_error);
}

TEST_CASE("loras name files and scales, checked against the model's limits",
          "[generate_request][lora]") {
  auto request = parse_generate_request(
      R"({"prompt": "a cat", "n": 2, "loras": [{"name": "pixel-art_v2.1", "scale": 0.7},
                                             {"name": "ink"}]})",
      test_rules(), 1);
  REQUIRE(request.samples.size() == 2);
  for (const auto& sample : request.samples) {
    REQUIRE(sample.loras.size() == 2);
    CHECK(sample.loras[0].name == "pixel-art_v2.1");
    CHECK(sample.loras[0].scale == 0.7);
    CHECK(sample.loras[1].name == "ink");
    CHECK(sample.loras[1].scale == 1.0);
  }
  CHECK(parse_generate_request(R"({"prompt": "a", "loras": []})", test_rules(), 1)
            .samples[0]
            .loras.empty());
  // A form field carries the list as JSON text.
  CHECK(parse_generate_request(R"({"prompt": "a", "loras": "[{\"name\": \"ink\"}]"})", test_rules(),
                               1)
            .samples[0]
            .loras.at(0)
            .name == "ink");

  for (const char* bad : {
           R"({"prompt": "a", "loras": {"name": "ink"}})",
           R"({"prompt": "a", "loras": ["ink"]})",
           R"({"prompt": "a", "loras": [{"scale": 1}]})",
           R"({"prompt": "a", "loras": [{"name": "ink", "weight": 1}]})",
           R"({"prompt": "a", "loras": [{"name": "ink", "scale": "high"}]})",
           R"({"prompt": "a", "loras": [{"name": "../secrets"}]})",
           R"({"prompt": "a", "loras": [{"name": ".hidden"}]})",
           R"({"prompt": "a", "loras": [{"name": "ink", "scale": 11}]})",
           R"({"prompt": "a", "loras": [{"name": "ink", "scale": -10.5}]})",
           R"({"prompt": "a", "loras": [{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"},
                                        {"name":"e"},{"name":"f"},{"name":"g"},{"name":"h"},
                                        {"name":"i"}]})",
       }) {
    INFO(bad);
    CHECK(rejection(bad) == "invalid_request:loras");
  }
}
