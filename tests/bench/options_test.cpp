#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "tools/bench/bench_options.hpp"

using namespace muse::bench;

namespace {
bench_options parse(std::vector<std::string> args) { return parse_options(args); }

std::string error_of(std::vector<std::string> args) {
  try {
    parse_options(args);
  } catch (const usage_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("durations take ms, s, m, h or plain seconds") {
  CHECK(parse_duration_s("30s") == 30);
  CHECK(parse_duration_s("250ms") == Approx(0.25));
  CHECK(parse_duration_s("2m") == 120);
  CHECK(parse_duration_s("1h") == 3600);
  CHECK(parse_duration_s("1.5") == 1.5);
  CHECK_THROWS_AS(parse_duration_s("abc"), usage_error);
  CHECK_THROWS_AS(parse_duration_s("-3s"), usage_error);
  CHECK_THROWS_AS(parse_duration_s("s"), usage_error);
  CHECK_THROWS_AS(parse_duration_s("3 s"), usage_error);
}

TEST_CASE("urls give host, port and path prefix; only http") {
  auto t = parse_url("http://127.0.0.1:8080");
  CHECK(t.host == "127.0.0.1");
  CHECK(t.port == 8080);
  CHECK(t.path_prefix.empty());
  t = parse_url("http://example.org/muse/");
  CHECK(t.host == "example.org");
  CHECK(t.port == 80);
  CHECK(t.path_prefix == "/muse");
  t = parse_url("http://[::1]:9000");
  CHECK(t.host == "::1");
  CHECK(t.port == 9000);
  CHECK_THROWS_WITH(parse_url("https://x:1"), Catch::Contains("https is not supported"));
  CHECK_THROWS_AS(parse_url("ftp://x"), usage_error);
  CHECK_THROWS_AS(parse_url("http://:80"), usage_error);
  CHECK_THROWS_AS(parse_url("http://x:0"), usage_error);
  CHECK_THROWS_AS(parse_url("http://x:70000"), usage_error);
  CHECK_THROWS_AS(parse_url("http://x/a?b=1"), usage_error);
}

TEST_CASE("a closed-loop command line") {
  const auto o = parse({"--url",
                        "http://10.0.0.2:9000",
                        "--api",
                        "openai",
                        "--users=50",
                        "--requests",
                        "1000",
                        "--duration",
                        "1m",
                        "--warmup",
                        "5s",
                        "--n",
                        "2",
                        "--size",
                        "256x256",
                        "--header",
                        "Authorization: Bearer k",
                        "--threads",
                        "2",
                        "--label",
                        "batching on",
                        "--json",
                        "out.json"});
  CHECK(o.api == api_kind::openai);
  CHECK(o.target.port == 9000);
  CHECK(o.users == 50);
  CHECK_FALSE(o.open_loop());
  CHECK(*o.requests == 1000);
  CHECK(*o.duration_s == 60);
  CHECK(o.warmup_s == 5);
  CHECK(o.images == 2);
  CHECK(*o.size == "256x256");
  REQUIRE(o.headers.size() == 1);
  CHECK(o.headers[0].first == "Authorization");
  CHECK(o.headers[0].second == "Bearer k");
  CHECK(o.threads == 2);
  CHECK(o.label == "batching on");
  CHECK(o.json_path == "out.json");
}

TEST_CASE("an open-loop command line, prompts repeated and from a file") {
  auto o = parse({"--rate", "12.5", "--duration", "10s", "--prompt", "a", "--prompt", "b"});
  CHECK(o.open_loop());
  CHECK(*o.rate == 12.5);
  CHECK(o.prompts == std::vector<std::string>{"a", "b"});
  o = parse({"--requests=2", "--prompt", "--x=y", "--prompt=a=b"});
  CHECK(*o.requests == 2);
  CHECK(o.prompts == std::vector<std::string>{"--x=y", "a=b"});

  // Named by process so that copies of the suite run at once do not share (and delete) it.
  const std::string path = "bench_options_test_prompts." + std::to_string(::getpid()) + ".txt";
  {
    std::ofstream out(path);
    out << "first prompt\n\n  second prompt  \r\n";
  }
  o = parse({"--requests", "3", "--prompts-file", path});
  CHECK(o.prompts == std::vector<std::string>{"first prompt", "second prompt"});
  std::remove(path.c_str());
}

TEST_CASE("bad command lines say what is wrong") {
  CHECK_THAT(error_of({"--users", "4"}), Catch::Contains("--requests N and/or --duration"));
  CHECK_THAT(error_of({"--requests", "1", "--users", "0"}), Catch::Contains("--users must be 1.."));
  CHECK_THAT(error_of({"--requests", "1", "--users", "x"}), Catch::Contains("whole number"));
  CHECK_THAT(error_of({"--requests", "1", "--rate", "0"}), Catch::Contains("positive"));
  CHECK_THAT(error_of({"--requests", "1", "--rate", "5", "--users", "3"}),
             Catch::Contains("give one of them"));
  CHECK_THAT(error_of({"--requests", "1", "--bogus"}), Catch::Contains("unknown option '--bogus'"));
  CHECK_THAT(error_of({"--requests"}), Catch::Contains("--requests needs a value"));
  CHECK_THAT(error_of({"--requests", "1", "--api", "grpc"}),
             Catch::Contains("native, muse or openai"));
  CHECK_THAT(error_of({"--requests", "1", "--quality", "best"}),
             Catch::Contains("fast or quality"));
  CHECK_THAT(error_of({"--requests", "1", "--quality", "fast", "--quality", "slow"}),
             Catch::Contains("got 'slow'"));
  CHECK_THAT(error_of({"--requests", "1", "--api", "muse", "--quality", "hd"}),
             Catch::Contains("--api muse is fast or quality"));
  CHECK_THAT(error_of({"--requests", "1", "--api", "muse", "--steps", "4"}),
             Catch::Contains("no steps"));
  CHECK_THAT(error_of({"--requests", "1", "--api", "muse", "--n", "2"}),
             Catch::Contains("one image"));
  CHECK_THAT(error_of({"--requests", "1", "--api", "openai", "--seed", "2"}),
             Catch::Contains("no seed"));
  CHECK_THAT(error_of({"--requests", "1", "--size", "512"}), Catch::Contains("WIDTHxHEIGHT"));
  CHECK_THAT(error_of({"--requests", "1", "--header", "NoColon"}),
             Catch::Contains("'Name: value'"));
  CHECK_THAT(error_of({"--requests", "1", "--header", "content-length: 3"}),
             Catch::Contains("sets content-length itself"));
  CHECK_THAT(error_of({"--requests", "1", "--prompts-file", "/nonexistent/prompts"}),
             Catch::Contains("cannot read"));
  CHECK_THAT(error_of({"--requests", "1", "--prompt", "a", "--prompts-file", "x"}),
             Catch::Contains("not both"));
  CHECK_THAT(error_of({"--duration", "0s"}), Catch::Contains("above zero"));
  CHECK(parse({"--help"}).help);
}

TEST_CASE("--quality repeats into a mix, in order") {
  CHECK(parse({"--requests", "1"}).qualities.empty());
  const auto mix = parse({"--requests", "1", "--quality", "fast", "--quality=quality"});
  CHECK(mix.qualities == std::vector<std::string>{"fast", "quality"});
  CHECK(settings_json(mix)["quality"] == nlohmann::json::array({"fast", "quality"}));
  const auto openai = parse({"--requests", "1", "--api", "openai", "--quality", "hd"});
  CHECK(openai.qualities == std::vector<std::string>{"hd"});
}

TEST_CASE("settings name what a plot needs and never header values") {
  const auto o = parse({"--users", "25", "--requests", "10", "--header",
                        "Authorization: Bearer secret", "--label", "x", "--quality", "fast"});
  const auto s = settings_json(o);
  CHECK(s["users"] == 25);
  CHECK(s["mode"] == "closed");
  CHECK(s["api"] == "native");
  CHECK(s["label"] == "x");
  CHECK(s["quality"] == "fast");
  CHECK(s["requests"] == 10);
  CHECK(s["duration_s"].is_null());
  CHECK(s["headers"] == nlohmann::json::array({"Authorization"}));
  CHECK(s.dump().find("secret") == std::string::npos);
}
