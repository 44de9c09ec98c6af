// The OpenAI Images API (POST /v1/images/generations, and /v1/images/edits and
// /v1/images/variations as image to image), so OpenAI's client libraries and the tools built on
// them work against the gateway. The body is translated into the native request's fields and
// takes the one order path (order.hpp), so every limit is checked by the same code; answers and
// errors come back in OpenAI's shape.

#include <chrono>

#include "http/base64.hpp"
#include "http/form_request.hpp"
#include "http/frontend_routes.hpp"
#include "http/generate_request.hpp"
#include "http/openai_request.hpp"
#include "http/order.hpp"

namespace muse::http {
namespace {

// {"error": {"message", "type", "param", "code"}} as OpenAI answers.
nlohmann::json openai_error(const api_error& error, const std::string& param) {
  const int status = error.status();
  std::string type = status == 401   ? "authentication_error"
                     : status == 429 ? "rate_limit_error"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  nlohmann::json p = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  return {
      {"error", {{"message", error.what()}, {"type", type}, {"param", p}, {"code", error.code()}}}};
}

// OpenAI's field names for the native ones a translated request may name in an error.
std::string openai_param(const std::string& native) {
  if (native == "width" || native == "height") return "size";
  if (native == "steps") return "quality";
  if (native == "init_image") return "image";
  return native;
}

nlohmann::json data_shape(const actors::generate_outcome& outcome, bool as_url, image_store& images,
                          const std::string& public_url) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& image : outcome.images) {
    if (as_url)
      data.push_back({{"url", public_url + "/api/v1/images/" + images.put(image.png)}});
    else
      data.push_back({{"b64_json", base64_encode(image.png)}});
  }
  return {{"created", std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()},
          {"data", std::move(data)}};
}

void send_openai_error(exchange& ex, const api_error& error, header_list headers = {}) {
  bool has_retry_after = false;
  for (const auto& header : headers) has_retry_after |= header.first == "Retry-After";
  if (error.status() == 429 && !has_retry_after) headers.emplace_back("Retry-After", "1");
  ex.send_json(error.status(), openai_error(error, openai_param(error.field())), headers);
}

// The translation of a route's body; called once the request is admitted.
using translate_function = std::function<openai_request(const exchange&)>;

void generate(const std::shared_ptr<exchange>& ex, const std::shared_ptr<image_store>& images,
              const translate_function& translate) {
  server_state& state = ex->state();
  state.admit_generation();
  openai_request translated = translate(*ex);
  // Normalised when the config was read: no trailing slash.
  const std::string public_url = state.config.gateway.public_url;
  response_shape shape;
  shape.body = [as_url = translated.as_url, images, public_url](
                   const actors::generate_outcome& outcome, const generate_request&) {
    return data_shape(outcome, as_url, *images, public_url);
  };
  shape.send_error = [](exchange& ex, const api_error& error, const header_list& headers) {
    send_openai_error(ex, error, headers);
  };
  answer_order(ex, translated.fields, std::move(shape));
}

// Edits and variations are uploads, as OpenAI's SDKs send them.
translate_function upload(openai_upload route) {
  return [route](const exchange& ex) {
    if (!is_multipart_form(ex.content_type()))
      throw api_error(400, "invalid_request",
                      "this route takes multipart/form-data (an image file and fields), as "
                      "OpenAI's does");
    return translate_openai_upload(read_multipart_body(ex.content_type(), ex.body()), route,
                                   ex.state().config.default_model());
  };
}

route_handler openai_route(std::shared_ptr<image_store> images, translate_function translate) {
  return [images, translate](const std::shared_ptr<exchange>& ex) {
    try {
      generate(ex, images, translate);
    } catch (const api_error& error) {
      send_openai_error(*ex, error);
    }
  };
}

}  // namespace

void add_openai_routes(route_table& table, std::shared_ptr<image_store> images) {
  table.add("POST", "/v1/images/generations", openai_route(images, [](const exchange& ex) {
              return translate_openai_request(ex.body(), ex.state().config.default_model());
            }));
  table.add("POST", "/v1/images/edits", openai_route(images, upload(openai_upload::edit)));
  table.add("POST", "/v1/images/variations",
            openai_route(images, upload(openai_upload::variation)));
}

}  // namespace muse::http
