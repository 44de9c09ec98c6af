#include "tools/bench/request_builder.hpp"

#include <catch2/catch.hpp>
#include <map>

using namespace muse::bench;

namespace {
bench_options parse(std::vector<std::string> args) {
  args.push_back("--requests");
  args.push_back("1");
  return parse_options(args);
}
nlohmann::json body_of(const std::string& request) {
  return nlohmann::json::parse(request.substr(request.find("\r\n\r\n") + 4));
}
}  // namespace

TEST_CASE("native bodies carry quality, steps, seed, n and size") {
  const auto o = parse({"--quality", "quality", "--steps", "20", "--n", "2", "--size", "64x32"});
  const auto body = request_body(o, "a fox", uint64_t(7));
  CHECK(body == nlohmann::json{{"prompt", "a fox"},
                               {"quality", "quality"},
                               {"steps", 20},
                               {"seed", 7},
                               {"n", 2},
                               {"width", 64},
                               {"height", 32}});
  CHECK(request_body(parse({}), "p", std::nullopt) == nlohmann::json{{"prompt", "p"}});
}

TEST_CASE("muse bodies are {prompt, high_quality}") {
  CHECK(request_body(parse({"--api", "muse"}), "p", std::nullopt) ==
        nlohmann::json{{"prompt", "p"}, {"high_quality", false}});
  CHECK(request_body(parse({"--api", "muse", "--quality", "quality"}), "p", std::nullopt) ==
        nlohmann::json{{"prompt", "p"}, {"high_quality", true}});
}

TEST_CASE("openai bodies ask for b64_json") {
  CHECK(request_body(parse({"--api", "openai", "--n", "3", "--size", "512x512"}), "p",
                     std::nullopt) ==
        nlohmann::json{
            {"prompt", "p"}, {"n", 3}, {"size", "512x512"}, {"response_format", "b64_json"}});
}

TEST_CASE("the HTTP request is a keep-alive POST with an exact Content-Length") {
  const auto o = parse({"--url", "http://localhost:9000/prefix", "--api", "openai", "--header",
                        "Authorization: Bearer k"});
  const std::string body = R"({"prompt":"é"})";
  const std::string request = http_request(o, body);
  CHECK(request.rfind("POST /prefix/v1/images/generations HTTP/1.1\r\nHost: localhost:9000\r\n",
                      0) == 0);
  CHECK(request.find("\r\nAuthorization: Bearer k\r\n") != std::string::npos);
  CHECK(request.find("\r\nContent-Type: application/json\r\n") != std::string::npos);
  CHECK(request.find("Connection: close") == std::string::npos);
  CHECK(request.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n") !=
        std::string::npos);
  CHECK(request.substr(request.size() - body.size()) == body);
  CHECK(http_request(parse({"--url", "http://h"}), "{}").find("\r\nHost: h\r\n") !=
        std::string::npos);
}

TEST_CASE("the request source cycles prompts and advances seeds by the images per request") {
  auto o = parse({"--prompt", "one", "--prompt", "two", "--seed", "100", "--n", "3"});
  request_source source(o);
  CHECK(source.images_per_request() == 3);
  const auto first = body_of(*source.next());
  const auto second = body_of(*source.next());
  const auto third = body_of(*source.next());
  CHECK(first["prompt"] == "one");
  CHECK(second["prompt"] == "two");
  CHECK(third["prompt"] == "one");
  CHECK(first["seed"] == 100);
  CHECK(second["seed"] == 103);
  CHECK(third["seed"] == 106);

  auto fixed = parse({"--prompt", "one", "--prompt", "two"});
  request_source reused(fixed);
  const auto a = reused.next();
  reused.next();
  CHECK(reused.next() == a);  // the same prebuilt bytes, no per-request work
  CHECK_FALSE(body_of(*a).contains("seed"));
  CHECK(request_source(parse({"--api", "muse"})).images_per_request() == 1);
}

TEST_CASE("repeated --quality alternates the qualities request by request, whatever the prompt") {
  for (bool seeded : {false, true}) {
    std::vector<std::string> args = {"--prompt", "one",       "--prompt", "two",       "--prompt",
                                     "three",    "--quality", "fast",     "--quality", "quality"};
    if (seeded) {
      args.push_back("--seed");
      args.push_back("5");
    }
    const auto options = parse(args);
    request_source source(options);
    std::map<std::pair<std::string, std::string>, int> seen;
    for (int k = 0; k < 12; ++k) {
      const auto body = body_of(*source.next());
      INFO("seeded " << seeded << ", request " << k);
      CHECK(body["quality"] == (k % 2 == 0 ? "fast" : "quality"));
      ++seen[{body["prompt"].get<std::string>(), body["quality"].get<std::string>()}];
    }
    CHECK(seen.size() == 6);  // every prompt with both qualities, twice each
    for (auto& [pair, count] : seen) CHECK(count == 2);
  }
  const auto muse = parse({"--api", "muse", "--quality", "quality", "--quality", "fast"});
  CHECK(request_body(muse, "p", std::nullopt, 0)["high_quality"] == true);
  CHECK(request_body(muse, "p", std::nullopt, 1)["high_quality"] == false);
  CHECK(request_body(muse, "p", std::nullopt, 2)["high_quality"] == true);
}
