// actor-stats against the real HTTP server (fake gateway behind it): the URL muse-node prints is
// accepted as it is, and a gateway that wants an API key gets one, or a message saying how.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "frontend_server.hpp"

using muse::testing::frontend_server;
using nlohmann::json;

namespace {

struct run_result {
  int status = -1;
  std::string output;  // stdout and stderr
};

run_result actor_stats(const std::string& arguments) {
  run_result result;
  const std::string command = std::string(ACTOR_STATS_BINARY) + " " + arguments + " 2>&1";
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
      result.output.append(buffer, got);
    const int status = ::pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return result;
}

}  // namespace

TEST_CASE("actor-stats takes the URL muse-node prints and says what to do on a 401",
          "[actor-stats]") {
  ::setenv("MUSE_ACTOR_STATS_TEST_KEYS", "key-one,key-two", 1);
  ::setenv("MUSE_ACTOR_STATS_TEST_GOOD", "key-two", 1);
  ::setenv("MUSE_ACTOR_STATS_TEST_BAD", "key-three", 1);
  auto config = muse::testing::frontend_config();
  config.auth.api_keys_env = "MUSE_ACTOR_STATS_TEST_KEYS";
  frontend_server s(config);
  const std::string url = s.url("");  // http://127.0.0.1:PORT, as muse-node prints it

  auto without_key = actor_stats(url + " --json");
  CHECK(without_key.status == 1);
  CHECK_THAT(without_key.output, Catch::Contains("HTTP 401") && Catch::Contains("--api-key-env"));

  auto wrong_key = actor_stats(url + "/ --json --api-key-env MUSE_ACTOR_STATS_TEST_BAD");
  CHECK(wrong_key.status == 1);
  CHECK_THAT(wrong_key.output,
             Catch::Contains("does not accept the key in MUSE_ACTOR_STATS_TEST_BAD"));

  auto with_key =
      actor_stats("--gateway " + url + " --json --api-key-env MUSE_ACTOR_STATS_TEST_GOOD");
  INFO(with_key.output);
  REQUIRE(with_key.status == 0);
  const auto view = json::parse(with_key.output);
  CHECK(view.contains("workers"));
  CHECK(view.contains("gateway"));
  // Per model: the fake gateway's one model, with its ready worker.
  REQUIRE(view.contains("models"));
  REQUIRE(view["models"].size() == 1);
  CHECK(view["models"][0]["name"] == "muse-tiny");
  CHECK(view["models"][0]["ready_workers"] == 1);

  // HOST:PORT still works; a path does not (the tool reads /api/v1/stats from the root).
  const auto host_port = url.substr(std::string("http://").size());
  CHECK(actor_stats(host_port + " --json --api-key-env MUSE_ACTOR_STATS_TEST_GOOD").status == 0);
  auto with_path = actor_stats(url + "/api/v1/stats --json");
  CHECK(with_path.status == 2);
  CHECK_THAT(with_path.output, Catch::Contains("http://HOST:PORT"));
  ::unsetenv("MUSE_ACTOR_STATS_TEST_KEYS");
}

TEST_CASE("actor-stats documents every flag it takes", "[actor-stats]") {
  auto help = actor_stats("--help");
  CHECK(help.status == 0);
  for (const char* flag :
       {"--gateway", "--api-key-env", "--watch", "--interval", "--json", "--help"})
    CHECK_THAT(help.output, Catch::Contains(flag));
  CHECK(actor_stats("").status == 2);
  CHECK(actor_stats("http://127.0.0.1:1 --watch --json").status == 2);
}
