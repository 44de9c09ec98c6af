#include "tools/bench/request_builder.hpp"

#include <algorithm>

namespace muse::bench {

const char* route_path(api_kind api) {
  switch (api) {
    case api_kind::native:
      return "/api/v1/generate";
    case api_kind::muse:
      return "/api/predict";
    case api_kind::openai:
      return "/v1/images/generations";
  }
  return "/api/v1/generate";
}

nlohmann::json request_body(const bench_options& o, const std::string& prompt,
                            std::optional<uint64_t> seed, size_t quality_index) {
  nlohmann::json body = {{"prompt", prompt}};
  const std::string* quality =
      o.qualities.empty() ? nullptr : &o.qualities[quality_index % o.qualities.size()];
  switch (o.api) {
    case api_kind::native:
      if (quality) body["quality"] = *quality;
      if (o.steps) body["steps"] = *o.steps;
      if (seed) body["seed"] = *seed;
      if (o.images != 1) body["n"] = o.images;
      if (o.size) {
        const auto x = o.size->find('x');
        body["width"] = std::stoi(o.size->substr(0, x));
        body["height"] = std::stoi(o.size->substr(x + 1));
      }
      break;
    case api_kind::muse:
      body["high_quality"] = quality && *quality == "quality";
      break;
    case api_kind::openai:
      body["n"] = o.images;
      if (o.size) body["size"] = *o.size;
      if (quality) body["quality"] = *quality;
      body["response_format"] = "b64_json";
      break;
  }
  return body;
}

std::string http_request(const bench_options& o, const std::string& body) {
  std::string host =
      o.target.host.find(':') != std::string::npos ? "[" + o.target.host + "]" : o.target.host;
  if (o.target.port != 80) host += ":" + std::to_string(o.target.port);
  std::string request;
  request.reserve(256 + body.size());
  request += "POST ";
  request += o.target.path_prefix;
  request += route_path(o.api);
  request += " HTTP/1.1\r\nHost: ";
  request += host;
  request +=
      "\r\nUser-Agent: muse-bench\r\nAccept: application/json\r\nContent-Type: "
      "application/json\r\n";
  for (const auto& [name, value] : o.headers) request += name + ": " + value + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  request += body;
  return request;
}

request_source::request_source(const bench_options& options)
    : options_(options), images_(options.api == api_kind::muse ? 1 : options.images) {
  if (!options.seed)
    for (const auto& prompt : options.prompts)
      for (size_t quality = 0; quality < qualities(); ++quality)
        prebuilt_.push_back(std::make_shared<const std::string>(
            http_request(options, request_body(options, prompt, std::nullopt, quality).dump())));
}

size_t request_source::qualities() const { return std::max<size_t>(1, options_.qualities.size()); }

std::shared_ptr<const std::string> request_source::next() {
  const uint64_t k = counter_.fetch_add(1, std::memory_order_relaxed);
  const size_t prompt = size_t(k % options_.prompts.size());
  const size_t quality = size_t(k % qualities());
  if (!prebuilt_.empty()) return prebuilt_[prompt * qualities() + quality];
  const uint64_t seed =
      *options_.seed + k * uint64_t(options_.images);  // images of one request use seed..seed+n-1
  return std::make_shared<const std::string>(http_request(
      options_, request_body(options_, options_.prompts[prompt], seed, quality).dump()));
}

}  // namespace muse::bench
