// AUTOMATIC1111's txt2img and img2img bodies into the native fields: what maps, what is ignored,
// what is refused (and with which status), and the answer's shape.
#include "http/a1111_request.hpp"

#include <catch2/catch.hpp>

#include "http/base64.hpp"
#include "tests/support/png_builder.hpp"

using muse::http::a1111_route;
using muse::http::api_error;
using muse::http::request_rules;
using muse::http::translate_a1111_request;
using nlohmann::json;

namespace {

request_rules test_rules() {
  request_rules rules;
  rules.limits.min_size = 32;
  rules.limits.max_size = 128;
  rules.limits.size_multiple = 16;
  rules.limits.max_steps = 100;
  rules.limits.schedulers = {"ddim", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras"};
  rules.model.fast_steps = 25;
  rules.model.quality_steps = 50;
  rules.model.guidance_scale = 7.5f;
  rules.model.width = 64;
  rules.model.height = 48;
  rules.model.max_images_per_request = 4;
  rules.model.scheduler = "ddim";
  return rules;
}

muse::http::a1111_request txt2img(const json& body) {
  return translate_a1111_request(body.dump(), a1111_route::txt2img, test_rules());
}

// "status field" of the error a body gets, or "accepted".
std::string rejection(const std::string& body, a1111_route route = a1111_route::txt2img) {
  try {
    translate_a1111_request(body, route, test_rules());
    return "accepted";
  } catch (const api_error& error) {
    // A body that is not JSON keeps the native code; every other refusal is invalid_request.
    CHECK(error.code() == (error.field().empty() ? "invalid_json" : "invalid_request"));
    return std::to_string(error.status()) + " " + error.field();
  }
}

std::string rejection(const json& body, a1111_route route = a1111_route::txt2img) {
  return rejection(body.dump(), route);
}

std::string small_png() {
  return muse::http::base64_encode(
      muse::testing::make_rgb_png(32, 32, std::vector<uint8_t>(32 * 32 * 3, 128)));
}

}  // namespace

TEST_CASE("A1111 txt2img: the fields A1111 clients send map to the native ones", "[a1111]") {
  const auto request = txt2img({{"prompt", "a fox"},
                                {"negative_prompt", "blurry"},
                                {"steps", 12},
                                {"cfg_scale", 6.5},
                                {"width", 96},
                                {"height", 32},
                                {"seed", 1234},
                                {"sampler_name", "Euler a"},
                                {"batch_size", 2},
                                {"n_iter", 2}});
  const auto& f = request.fields;
  CHECK(f.prompt == "a fox");
  CHECK(f.negative_prompt == "blurry");
  CHECK(f.steps == 12);
  CHECK(f.guidance_scale == 6.5);
  CHECK(f.width == 96);
  CHECK(f.height == 32);
  CHECK(f.seed == 1234);
  CHECK(f.scheduler == "euler_ancestral");
  CHECK(f.n == 4);  // batch_size x n_iter
  CHECK_FALSE(f.has_init_image());

  const auto generated = muse::http::validate_generate_fields(f, test_rules(), 7);
  REQUIRE(generated.samples.size() == 4);
  CHECK(generated.samples[3].seed == 1237);
}

TEST_CASE("A1111 txt2img: defaults, -1 seeds and an empty prompt", "[a1111]") {
  const auto request = txt2img({{"seed", -1}, {"sampler_index", "Euler"}});
  CHECK(request.fields.prompt.empty());
  CHECK(request.fields.empty_prompt_allowed);  // A1111's prompt defaults to ""
  CHECK_FALSE(request.fields.seed);            // drawn at random
  CHECK(request.fields.scheduler == "euler");  // sampler_index is a name too
  CHECK(request.fields.n == 1);
  CHECK_FALSE(request.fields.steps);  // the model's fast steps
  CHECK(request.send_images);
  // sampler_name wins over sampler_index, as A1111 has it.
  CHECK(txt2img({{"sampler_name", "DDIM"}, {"sampler_index", "Euler"}}).fields.scheduler == "ddim");
  CHECK_FALSE(txt2img({{"prompt", "x"}}).fields.scheduler);  // the model's own
}

TEST_CASE("A1111 samplers: names, aliases, any case, and the Karras schedule", "[a1111]") {
  auto scheduler = [](const json& body) { return *txt2img(body).fields.scheduler; };
  CHECK(scheduler({{"sampler_name", "DPM++ 2M"}}) == "dpmpp_2m");
  CHECK(scheduler({{"sampler_name", "DPM++ 2M Karras"}}) == "dpmpp_2m_karras");
  CHECK(scheduler({{"sampler_name", "k_dpmpp_2m_ka"}}) == "dpmpp_2m_karras");
  CHECK(scheduler({{"sampler_name", "k_euler_a"}}) == "euler_ancestral");
  CHECK(scheduler({{"sampler_name", "euler A"}}) == "euler_ancestral");
  CHECK(scheduler({{"sampler_name", "ddim"}}) == "ddim");
  CHECK(scheduler({{"sampler_name", "DPM++ 2M"}, {"scheduler", "Karras"}}) == "dpmpp_2m_karras");
  CHECK(scheduler({{"sampler_name", "Euler"}, {"scheduler", "Automatic"}}) == "euler");
  CHECK(rejection({{"sampler_name", "Euler"}, {"scheduler", "Karras"}}) == "400 scheduler");
  CHECK(rejection({{"sampler_name", "DDIM"}, {"scheduler", "Exponential"}}) == "400 scheduler");
  // A sampler A1111 has and this model does not, and one nobody has.
  CHECK(rejection({{"sampler_name", "PLMS"}}) == "400 sampler_name");
  CHECK(rejection({{"sampler_index", "Heun"}}) == "400 sampler_index");
  try {
    txt2img({{"sampler_name", "Heun"}});
    FAIL("accepted");
  } catch (const api_error& error) {
    CHECK(std::string(error.what()) ==
          "Sampler not found: Heun; this model has: DPM++ 2M, DPM++ 2M Karras, Euler a, Euler, "
          "DDIM");
  }

  const auto served = muse::http::a1111_samplers_of({"pndm", "ddim"});
  REQUIRE(served.size() == 2);
  CHECK(std::string(served[0].name) == "DDIM");
  CHECK(std::string(served[1].name) == "PLMS");
  CHECK(muse::http::a1111_sampler_name("pndm") == "PLMS");
}

TEST_CASE("A1111 txt2img: fields that cannot change the picture are ignored", "[a1111]") {
  const json body = {{"prompt", "a fox"},
                     {"send_images", true},
                     {"save_images", true},
                     {"restore_faces", false},
                     {"tiling", false},
                     {"styles", json::array()},
                     {"override_settings", json::object()},
                     {"override_settings_restore_afterwards", true},
                     {"alwayson_scripts", json::object()},
                     {"script_args", json::array()},
                     {"script_name", nullptr},
                     {"enable_hr", false},
                     {"hr_scale", 2},
                     {"hr_upscaler", "Latent"},
                     {"denoising_strength", 0.7},
                     {"subseed", -1},
                     {"subseed_strength", 0},
                     {"seed_resize_from_w", -1},
                     {"seed_resize_from_h", 0},
                     {"s_churn", 0},
                     {"s_noise", 1},
                     {"s_tmax", nullptr},
                     {"do_not_save_grid", false},
                     {"eta", 0},
                     {"sampler_name", "DDIM"}};
  CHECK(rejection(body) == "accepted");
  CHECK(txt2img({{"send_images", false}}).send_images == false);
  // eta is the sampler's own: 1 for Euler a, anything for samplers that take none.
  CHECK(rejection({{"sampler_name", "Euler a"}, {"eta", 1}}) == "accepted");
  CHECK(rejection({{"sampler_name", "Euler"}, {"eta", 0.3}}) == "accepted");
}

TEST_CASE("A1111 txt2img: what would change the picture and cannot be honoured is a 400",
          "[a1111]") {
  CHECK(rejection({{"enable_hr", true}}) == "400 enable_hr");
  CHECK(rejection({{"restore_faces", true}}) == "400 restore_faces");
  CHECK(rejection({{"tiling", true}}) == "400 tiling");
  CHECK(rejection({{"subseed_strength", 0.5}}) == "400 subseed_strength");
  CHECK(rejection({{"seed_resize_from_w", 512}}) == "400 seed_resize_from_w");
  CHECK(rejection({{"styles", {"cinematic"}}}) == "400 styles");
  CHECK(rejection({{"override_settings", {{"CLIP_stop_at_last_layers", 2}}}}) ==
        "400 override_settings");
  CHECK(rejection({{"alwayson_scripts", {{"controlnet", json::object()}}}}) ==
        "400 alwayson_scripts");
  CHECK(rejection({{"script_name", "x/y/z plot"}}) == "400 script_name");
  CHECK(rejection({{"s_churn", 0.5}}) == "400 s_churn");
  CHECK(rejection({{"eta", 0.5}, {"sampler_name", "DDIM"}}) == "400 eta");
  CHECK(rejection({{"eta", 0}, {"sampler_name", "Euler a"}}) == "400 eta");
  CHECK(rejection({{"refiner_checkpoint", "sdxl_refiner"}}) == "400 refiner_checkpoint");
  // Unknown fields are not dropped either; img2img's are unknown to txt2img.
  CHECK(rejection({{"prompt", "x"}, {"lora", "y"}}) == "400 lora");
  CHECK(rejection({{"init_images", json::array()}}) == "400 init_images");
  // batch_size x n_iter within the model's images per request.
  CHECK(rejection({{"batch_size", 3}, {"n_iter", 2}}) == "400 batch_size");
  CHECK(rejection({{"n_iter", 5}}) == "400 n_iter");
  CHECK(rejection({{"batch_size", 0}}) == "400 batch_size");
  try {
    txt2img({{"enable_hr", true}});
  } catch (const api_error& error) {
    CHECK(std::string(error.what()) ==
          "enable_hr must be false: the high-resolution fix is not supported");
  }
}

TEST_CASE("A1111: what its schema refuses is a 422, as FastAPI answers", "[a1111]") {
  CHECK(rejection(std::string("not json")) == "422 ");
  CHECK(rejection(std::string("[1, 2]")) == "422 ");
  CHECK(rejection({{"steps", "many"}}) == "422 steps");
  CHECK(rejection({{"steps", 2.5}}) == "422 steps");
  CHECK(rejection({{"cfg_scale", "7"}}) == "422 cfg_scale");
  CHECK(rejection({{"prompt", 3}}) == "422 prompt");
  CHECK(rejection({{"send_images", "yes"}}) == "422 send_images");
  CHECK(rejection({{"init_images", "abc"}}, a1111_route::img2img) == "422 init_images");
  // null is absent, as for the native body.
  CHECK(rejection({{"steps", nullptr}, {"seed", nullptr}}) == "accepted");
}

TEST_CASE("A1111 img2img: init_images and denoising_strength", "[a1111]") {
  const std::string png = small_png();
  const auto request = translate_a1111_request(json({{"prompt", "a fox"},
                                                     {"init_images", {png}},
                                                     {"denoising_strength", 0.5},
                                                     {"resize_mode", 0},
                                                     {"mask", nullptr},
                                                     {"inpainting_fill", 1},
                                                     {"include_init_images", false}})
                                                   .dump(),
                                               a1111_route::img2img, test_rules());
  CHECK(request.fields.init_image == png);
  CHECK(request.fields.strength == 0.5);
  const auto generated = muse::http::validate_generate_fields(request.fields, test_rules(), 7);
  CHECK(generated.samples.at(0).width == 32);
  CHECK(generated.samples.at(0).init_image.width == 32);

  // A1111's default strength; one image exactly; no mask.
  const auto plain = translate_a1111_request(json({{"init_images", {png}}}).dump(),
                                             a1111_route::img2img, test_rules());
  CHECK(plain.fields.strength == muse::http::a1111_default_strength);
  CHECK(rejection({{"prompt", "x"}}, a1111_route::img2img) == "400 init_images");
  CHECK(rejection({{"init_images", json::array()}}, a1111_route::img2img) == "400 init_images");
  CHECK(rejection({{"init_images", {png, png}}}, a1111_route::img2img) == "400 init_images");
  CHECK(rejection({{"init_images", {png}}, {"mask", png}}, a1111_route::img2img) == "400 mask");
  CHECK(rejection({{"init_images", {png}}, {"initial_noise_multiplier", 0.9}},
                  a1111_route::img2img) == "400 initial_noise_multiplier");
  // Only txt2img ignores the high-resolution fix's fields.
  CHECK(rejection({{"init_images", {png}}, {"hr_scale", 2}}, a1111_route::img2img) ==
        "400 hr_scale");
}

TEST_CASE("A1111 answers: images, parameters as read and info as JSON text", "[a1111]") {
  const std::string png = small_png();
  const auto request =
      txt2img({{"prompt", "a fox"}, {"seed", 40}, {"sampler_name", "Euler a"}, {"batch_size", 2}});
  const auto generated = muse::http::validate_generate_fields(request.fields, test_rules(), 7);
  muse::actors::generate_outcome outcome;
  outcome.images = {{"png-one", 40}, {"png-two", 41}};
  const json body = muse::http::a1111_images_body(request, generated, outcome, "tiny-sd");

  REQUIRE(body["images"].size() == 2);
  CHECK(body["images"][1] == muse::http::base64_encode("png-two"));
  const json& parameters = body["parameters"];
  CHECK(parameters["prompt"] == "a fox");
  CHECK(parameters["seed"] == 40);
  CHECK(parameters["steps"] == 25);  // the defaults used, filled in
  CHECK(parameters["width"] == 64);
  CHECK(parameters["cfg_scale"] == 7.5);
  CHECK(parameters["n_iter"] == 1);
  CHECK(parameters["sampler_name"] == "Euler a");

  REQUIRE(body["info"].is_string());
  const json info = json::parse(body["info"].get<std::string>());
  CHECK(info["seed"] == 40);
  CHECK(info["all_seeds"] == json({40, 41}));
  CHECK(info["prompt"] == "a fox");
  CHECK(info["all_prompts"] == json({"a fox", "a fox"}));
  CHECK(info["negative_prompt"] == "");
  CHECK(info["steps"] == 25);
  CHECK(info["cfg_scale"] == 7.5);
  CHECK(info["sampler_name"] == "Euler a");
  CHECK(info["width"] == 64);
  CHECK(info["height"] == 48);
  CHECK(info["batch_size"] == 2);
  CHECK(info["sd_model_name"] == "tiny-sd");
  CHECK(info["infotexts"][1] ==
        "a fox\nSteps: 25, Sampler: Euler a, CFG scale: 7.5, Seed: 41, Size: 64x48, Model: "
        "tiny-sd");

  // send_images false: no images; an img2img's init images are not echoed unless asked.
  auto quiet = txt2img({{"send_images", false}});
  CHECK(muse::http::a1111_images_body(quiet, generated, outcome, "m")["images"].empty());
  const auto img2img = translate_a1111_request(json({{"init_images", {png}}}).dump(),
                                               a1111_route::img2img, test_rules());
  const auto from_image = muse::http::validate_generate_fields(img2img.fields, test_rules(), 7);
  muse::actors::generate_outcome one_image;  // as many images as the request has samples
  one_image.images = {{"png-one", 7}};
  const json answer = muse::http::a1111_images_body(img2img, from_image, one_image, "m");
  CHECK(answer["parameters"]["init_images"].is_null());
  CHECK(answer["parameters"]["denoising_strength"] == 0.75);
  CHECK(json::parse(answer["info"].get<std::string>())["denoising_strength"] == 0.75);
}

TEST_CASE("A1111 errors name A1111's fields and carry FastAPI's detail", "[a1111]") {
  const json body = muse::http::a1111_error_body(
      muse::http::invalid_field("guidance_scale", "guidance_scale must be 0..30"));
  CHECK(body["error"]["field"] == "cfg_scale");
  CHECK(body["error"]["message"] == "cfg_scale must be 0..30");
  CHECK(body["detail"] == "cfg_scale must be 0..30");
  CHECK(muse::http::a1111_field("init_image") == "init_images");
  CHECK(muse::http::a1111_field("strength") == "denoising_strength");
}

TEST_CASE("A1111's <lora:NAME:SCALE> tags leave the prompt for the request's LoRAs",
          "[a1111][lora]") {
  auto translated = txt2img({{"prompt", "a castle <lora:pixel-art:0.6>, at dusk <lora:ink>"}});
  CHECK(translated.fields.prompt == "a castle , at dusk ");
  REQUIRE(translated.fields.loras.size() == 2);
  CHECK(translated.fields.loras[0].name == "pixel-art");
  CHECK(translated.fields.loras[0].scale == 0.6);
  CHECK(translated.fields.loras[1].name == "ink");
  CHECK(translated.fields.loras[1].scale == 1.0);
  CHECK(rejection(json{{"prompt", "<lora:ink:strong>"}}) == "400 prompt");
}
