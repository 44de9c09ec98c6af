// The real muse-node, serving the tiny test pipeline, spoken to over real HTTP.

#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/png_check.hpp"
#include "tests/support/prometheus_check.hpp"

using muse::testing::http_request;
using muse::testing::http_response;
using muse::testing::node_process;
using muse::testing::post;
using muse::testing::stats_of;
using muse::testing::wait_ready;
using nlohmann::json;

namespace {

const std::string tiny_model = std::string(MUSE_TEST_DATA) + "/tiny-sd";

json tiny_config() {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "http_threads": 2, "max_body_bytes": 4096,
                "request_timeout_s": 30, "max_prompt_chars": 200},
    "gpu_nodes": [{"name": "local", "devices": ["cpu"], "slots_per_device": 1}],
    "model": {"scheduler": "ddim", "fast_steps": 3, "quality_steps": 6, "width": 32, "height": 32,
              "max_images_per_request": 4, "intra_op_threads": 1},
    "batching": {"max_batch_size": 8, "max_wait_ms": 300, "max_queue": 100, "step_level": true},
    "autoscale": {"min_workers": 1, "max_workers": 1}
  })");
  config["model"]["path"] = tiny_model;
  return config;
}

json error_of(const http_response& response) {
  INFO(response.body);
  json body = json::parse(response.body);
  REQUIRE(body.contains("error"));
  REQUIRE(body["error"]["message"].is_string());
  return body["error"];
}

std::string first_png(const http_response& response) {
  INFO(response.body.substr(0, 500));
  REQUIRE(response.status == 200);
  json body = json::parse(response.body);
  return muse::testing::base64_decode(body["images"][0]["png_base64"].get<std::string>());
}

// The largest difference between two PNGs of the same size, in levels of 255.
int max_pixel_difference(const std::string& a, const std::string& b) {
  const auto x = muse::testing::decode_png(a), y = muse::testing::decode_png(b);
  REQUIRE(x.width == y.width);
  REQUIRE(x.height == y.height);
  int worst = 0;
  for (size_t i = 0; i < x.rgb.size(); ++i)
    worst = std::max(worst, std::abs(int(x.rgb[i]) - int(y.rgb[i])));
  INFO("max pixel difference " << worst);
  return worst;
}

// Signals the node and expects it to exit 0 within `limit`; shows its log otherwise.
void expect_clean_exit(node_process& node, int signal,
                       std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto exit_code = node.stop(signal, limit);
  INFO(node.log());
  CHECK(exit_code == 0);
}

}  // namespace

TEST_CASE("muse-node serves the tiny pipeline over HTTP", "[integration]") {
  node_process node(tiny_config());
  wait_ready(node);
  json limits = stats_of(node)["model"]["limits"];
  INFO(limits.dump());
  const int multiple = limits.value("size_multiple", 8);
  const int min_size = limits.value("min_size", 32);
  const int max_size = limits.value("max_size", 32);

  SECTION("a good request returns a decodable PNG of the asked size") {
    int width = std::min(max_size, std::max(min_size, 32 + multiple));
    width -= width % multiple;
    int height = std::max(min_size, 32 - (32 % multiple));
    auto response = post(node, "/api/v1/generate",
                         {{"prompt", "a red circle"},
                          {"seed", 7},
                          {"steps", 3},
                          {"width", width},
                          {"height", height}});
    const std::string png = first_png(response);
    auto image = muse::testing::decode_png(png);
    CHECK(image.width == width);
    CHECK(image.height == height);
    // Its parameters, as AUTOMATIC1111 writes them into its PNGs.
    const std::string parameters = muse::testing::png_texts(png).at("parameters");
    CHECK(parameters.rfind("a red circle\nSteps: 3, Sampler: ", 0) == 0);
    CHECK(parameters.find(", Seed: 7, Size: " + std::to_string(width) + "x" +
                          std::to_string(height) + ", Model: tiny-sd") != std::string::npos);
    json body = json::parse(response.body);
    CHECK(body["steps"] == 3);
    CHECK(body["images"][0]["seed"] == 7);
    CHECK(body["timings"]["total_ms"].get<double>() >=
          body["timings"]["inference_ms"].get<double>());
    // Not a blank canvas: random weights still give varied pixels.
    std::set<unsigned char> values(image.rgb.begin(), image.rgb.end());
    CHECK(values.size() > 8);
  }

  SECTION("the same seed gives the same image, alone or in a batch with others") {
    json request = {{"prompt", "a blue square"}, {"seed", 1234}, {"steps", 4}};
    std::string alone = first_png(post(node, "/api/v1/generate", request));
    CHECK(first_png(post(node, "/api/v1/generate", request)) == alone);

    std::vector<std::future<http_response>> crowd;
    for (int i = 0; i < 5; ++i)
      crowd.push_back(std::async(std::launch::async, [&node, i] {
        return post(node, "/api/v1/generate",
                    {{"prompt", "crowd " + std::to_string(i)}, {"seed", i}, {"steps", 4}});
      }));
    auto in_batch =
        std::async(std::launch::async, [&] { return post(node, "/api/v1/generate", request); });
    std::string batched = first_png(in_batch.get());
    std::set<std::string> others;
    for (auto& f : crowd) others.insert(first_png(f.get()));
    // The same bytes where the CPU's BLAS and oneDNN kernels round a row the same whatever the
    // batch; where they do not (libtorch 1.13 with OpenBLAS on AMD EPYC at one thread), at most
    // one level of 255 apart (model/README.md, "Batches").
    CHECK(max_pixel_difference(batched, alone) <= 1);
    CHECK(others.count(alone) == 0);
    CHECK(others.size() == 5);

    // Concurrent requests rode together: some batch held more than one sample.
    json histogram = stats_of(node)["batches"]["size_histogram"];
    INFO(histogram.dump());
    bool batched_together = false;
    for (const auto& [size, count] : histogram.items())
      if (std::stoi(size) > 1 && count.get<double>() > 0) batched_together = true;
    CHECK(batched_together);
  }

  SECTION("n images get consecutive seeds, each as it would be alone") {
    auto response =
        post(node, "/api/v1/generate", {{"prompt", "stars"}, {"seed", 50}, {"n", 2}, {"steps", 3}});
    REQUIRE(response.status == 200);
    json body = json::parse(response.body);
    REQUIRE(body["images"].size() == 2);
    CHECK(body["images"][1]["seed"] == 51);
    std::string second =
        muse::testing::base64_decode(body["images"][1]["png_base64"].get<std::string>());
    CHECK(max_pixel_difference(first_png(post(node, "/api/v1/generate",
                                              {{"prompt", "stars"}, {"seed", 51}, {"steps", 3}})),
                               second) <= 1);
  }

  SECTION("the seed's /api/predict answers a PNG data URL of the default size") {
    auto response = post(node, "/api/predict", {{"prompt", "a cat"}, {"high_quality", false}});
    REQUIRE(response.status == 200);
    std::string image = json::parse(response.body)["image"];
    const std::string prefix = "data:image/png;base64,";
    REQUIRE(image.rfind(prefix, 0) == 0);
    auto png = muse::testing::decode_png(muse::testing::base64_decode(image.substr(prefix.size())));
    CHECK(png.width == 32);
    CHECK(png.height == 32);
  }

  SECTION("every bad request gets its status and a JSON error") {
    struct bad {
      json body;
      const char* field;
    };
    for (const auto& b :
         {bad{json::object(), "prompt"}, bad{{{"prompt", ""}}, "prompt"},
          bad{{{"prompt", 3}}, "prompt"}, bad{{{"prompt", std::string(201, 'x')}}, "prompt"},
          bad{{{"prompt", "x"}, {"steps", 0}}, "steps"},
          bad{{{"prompt", "x"}, {"steps", 100000}}, "steps"},
          bad{{{"prompt", "x"}, {"guidance_scale", 99}}, "guidance_scale"},
          bad{{{"prompt", "x"}, {"seed", -4}}, "seed"},
          bad{{{"prompt", "x"}, {"width", max_size + multiple}}, "width"},
          bad{{{"prompt", "x"}, {"height", min_size + 1}}, "height"},
          bad{{{"prompt", "x"}, {"n", 99}}, "n"},
          bad{{{"prompt", "x"}, {"scheduler", "nonesuch"}}, "scheduler"},
          bad{{{"prompt", "x"}, {"quality", "ultra"}}, "quality"},
          bad{{{"prompt", "x"}, {"mystery", 1}}, "mystery"}}) {
      INFO(b.body.dump());
      auto response = post(node, "/api/v1/generate", b.body);
      CHECK(response.status == 400);
      CHECK(error_of(response)["field"] == b.field);
    }
    auto not_json = http_request("POST", node.url("/api/v1/generate"), "{\"prompt\":");
    CHECK(not_json.status == 400);
    CHECK(error_of(not_json)["code"] == "invalid_json");

    auto too_big = post(node, "/api/v1/generate", {{"prompt", std::string(5000, 'x')}});
    CHECK(too_big.status == 413);
    CHECK(error_of(too_big)["code"] == "payload_too_large");

    auto missing = http_request("GET", node.url("/api/v2/nothing"));
    CHECK(missing.status == 404);
    CHECK(error_of(missing)["code"] == "not_found");

    auto wrong_method = http_request("DELETE", node.url("/api/v1/generate"));
    CHECK(wrong_method.status == 405);
    CHECK(wrong_method.headers["allow"] == "POST");
    CHECK(error_of(wrong_method)["code"] == "method_not_allowed");

    CHECK(http_request("GET", node.url("/healthz")).status == 200);
  }

  SECTION("/metrics is Prometheus text with the HTTP and pipeline figures") {
    first_png(post(node, "/api/v1/generate", {{"prompt", "metrics"}, {"seed", 1}, {"steps", 2}}));
    auto metrics = http_request("GET", node.url("/metrics"));
    REQUIRE(metrics.status == 200);
    auto parsed = muse::testing::parse_prometheus(metrics.body);
    for (const auto& p : parsed.problems) UNSCOPED_INFO(p);
    CHECK(parsed.problems.empty());
    CHECK(parsed.samples.at(R"(muse_http_requests_total{route="/api/v1/generate",status="200"})") >=
          1);
    CHECK(parsed.samples.at("muse_workers_ready") == 1);
    CHECK(parsed.samples.at("muse_workers_total") == 1);
    CHECK(parsed.samples.count("muse_queue_depth") == 1);
    CHECK(parsed.samples.at(R"(muse_batch_size_bucket{le="+Inf"})") >= 1);
    CHECK(parsed.types.at("muse_http_request_duration_seconds") == "histogram");
  }

  expect_clean_exit(node, SIGTERM);
}

TEST_CASE("SIGTERM answers the request in flight, then muse-node exits 0", "[integration]") {
  node_process node(tiny_config());
  wait_ready(node);
  // The signal follows the order's acceptance at once, while its 20 steps run.
  auto in_flight = std::async(std::launch::async, [&] {
    return post(node, "/api/v1/generate",
                {{"prompt", "slow"}, {"seed", 3}, {"steps", 20}, {"n", 2}});
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (stats_of(node)["orders"].value("accepted", 0) < 1 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  json before = stats_of(node)["orders"];
  INFO("orders when signalled: " << before.dump());
  CHECK(before.value("completed", 0) == 0);

  auto exit_code = node.stop(SIGTERM, std::chrono::seconds(120));
  auto response = in_flight.get();
  INFO(node.log());
  CHECK(response.status == 200);
  CHECK(json::parse(response.body)["images"].size() == 2);
  CHECK(exit_code == 0);
}

TEST_CASE("a client that hangs up has its order cancelled", "[integration]") {
  node_process node(tiny_config());
  wait_ready(node);
  {
    muse::testing::raw_connection client(node.port());
    std::string body = json{{"prompt", "abandoned"}, {"steps", 150}}.dump();
    client.send(
        "POST /api/v1/generate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (stats_of(node)["orders"].value("accepted", 0) < 1 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  json orders;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    orders = stats_of(node)["orders"];
  } while (orders["failed"].value("cancelled", 0) < 1 &&
           std::chrono::steady_clock::now() < deadline);
  INFO(orders.dump());
  CHECK(orders["failed"].value("cancelled", 0) == 1);
  CHECK(orders.value("completed", 0) == 0);
  expect_clean_exit(node, SIGTERM);
}

TEST_CASE("a full queue answers 429 with Retry-After and a passed deadline 504", "[integration]") {
  json config = tiny_config();
  config["gateway"]["request_timeout_s"] = 1;
  config["batching"] = {
      {"max_batch_size", 1}, {"max_wait_ms", 0}, {"max_queue", 1}, {"step_level", false}};
  node_process node(config);
  wait_ready(node);
  json limits = stats_of(node)["model"]["limits"];
  const int max_steps = limits.value("max_steps", 50);
  // Slow enough that whatever waits behind the first order misses its 1 s, yet each step short
  // enough that the timed-out work stops soon (at its next step) and shutdown stays quick.
  int size = std::min(limits.value("max_size", 32), 64);
  size -= size % limits.value("size_multiple", 8);

  std::vector<std::future<http_response>> burst;
  for (int i = 0; i < 12; ++i)
    burst.push_back(std::async(std::launch::async, [&node, i, max_steps, size] {
      return post(node, "/api/v1/generate",
                  {{"prompt", "load"},
                   {"seed", i},
                   {"steps", max_steps},
                   {"width", size},
                   {"height", size}});
    }));
  std::multiset<long> statuses;
  for (auto& f : burst) {
    auto response = f.get();
    statuses.insert(response.status);
    if (response.status == 429) {
      CHECK(error_of(response)["code"] == "queue_full");
      CHECK(!response.headers["retry-after"].empty());
    } else if (response.status == 504) {
      CHECK(error_of(response)["code"] == "timeout");
    } else {
      CHECK(response.status == 200);
    }
  }
  INFO(node.log());
  CHECK(statuses.count(429) >= 1);
  CHECK(statuses.count(504) >= 1);
  expect_clean_exit(node, SIGTERM);
}

TEST_CASE("before a worker is ready: /readyz and generation answer 503", "[integration]") {
  muse::testing::temp_folder empty_model;
  json config = tiny_config();
  // A model folder with nothing in it: the worker never loads, so readiness is never reached.
  config["model"]["path"] = empty_model.path().string();
  node_process node(config);
  auto ready = http_request("GET", node.url("/readyz"));
  CHECK(ready.status == 503);
  auto response = post(node, "/api/v1/generate", {{"prompt", "x"}});
  CHECK(response.status == 503);
  CHECK(error_of(response)["code"] == "no_worker");
  CHECK(http_request("GET", node.url("/healthz")).status == 200);
  expect_clean_exit(node, SIGINT);
}

TEST_CASE("muse-node's command line: --check-config, --help and bad arguments", "[integration]") {
  muse::testing::temp_folder folder;
  std::string good = folder.write("good.json", tiny_config().dump());
  auto checked = muse::testing::run_node_command({"--check-config", good}, folder);
  CHECK(checked.exit_code == 0);
  json effective = json::parse(checked.out);
  CHECK(effective["model"]["fast_steps"] == 3);
  CHECK(effective["batching"]["max_queue"] == 100);

  std::string bad = folder.write("bad.json", R"({"batching": {"max_batch_size": "eight"}})");
  auto rejected = muse::testing::run_node_command({"--check-config", bad}, folder);
  CHECK(rejected.exit_code == 2);
  CHECK(rejected.err.find("batching.max_batch_size") != std::string::npos);

  auto help = muse::testing::run_node_command({"--help"}, folder);
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--role") != std::string::npos);

  for (std::vector<std::string> args : {std::vector<std::string>{"--bogus"},
                                        {"--role=all"},
                                        {"--role=moon", "--config", good},
                                        {"--role=all", "--config", good, "--http-port", "x"},
                                        {}}) {
    auto result = muse::testing::run_node_command(args, folder);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("usage:") != std::string::npos);
  }
}

TEST_CASE("--check-config checks what the role needs on this machine", "[integration]") {
  muse::testing::temp_folder folder;
  json config = tiny_config();
  config["model"]["path"] = folder.file("no-model");
  config["auth"]["api_keys_env"] = "MUSE_NODE_TEST_UNSET_KEYS";
  ::unsetenv("MUSE_NODE_TEST_UNSET_KEYS");
  std::string file = folder.write("wrong.json", config.dump());

  // Default role all: both the model and the keys are needed here, and both are named.
  auto all = muse::testing::run_node_command({"--check-config", file}, folder);
  CHECK(all.exit_code == 2);
  CHECK(all.err.find("model.path: no such folder or file: " + folder.file("no-model")) !=
        std::string::npos);
  CHECK(all.err.find("auth.api_keys_env: names MUSE_NODE_TEST_UNSET_KEYS") != std::string::npos);
  CHECK(all.out.empty());

  auto gpu = muse::testing::run_node_command({"--check-config", file, "--role=gpu"}, folder);
  CHECK(gpu.exit_code == 2);
  CHECK(gpu.err.find("model.path") != std::string::npos);
  CHECK(gpu.err.find("auth.api_keys_env") == std::string::npos);

  auto gateway =
      muse::testing::run_node_command({"--check-config", file, "--role", "gateway"}, folder);
  CHECK(gateway.exit_code == 2);
  CHECK(gateway.err.find("auth.api_keys_env") != std::string::npos);
  CHECK(gateway.err.find("model.path") == std::string::npos);

  config["auth"]["api_keys_env"] = "";
  std::string keyless = folder.write("keyless.json", config.dump());
  CHECK(muse::testing::run_node_command({"--check-config", keyless, "--role=gateway"}, folder)
            .exit_code == 0);
  auto bad_role =
      muse::testing::run_node_command({"--check-config", keyless, "--role=moon"}, folder);
  CHECK(bad_role.exit_code == 2);
  CHECK(bad_role.err.find("usage:") != std::string::npos);
}

TEST_CASE("a single-file checkpoint with its configs in model.config_dir is served",
          "[integration]") {
  // tests/data holds no model_index.json: without config_dir the checkpoint cannot load.
  json config = tiny_config();
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd-single.safetensors";
  muse::testing::temp_folder folder;
  auto alone = muse::testing::run_node_command(
      {"--check-config", folder.write("alone.json", config.dump())}, folder);
  CHECK(alone.exit_code == 2);
  CHECK(alone.err.find("model.config_dir") != std::string::npos);

  config["model"]["config_dir"] = tiny_model;
  CHECK(muse::testing::run_node_command(
            {"--check-config", folder.write("apart.json", config.dump())}, folder)
            .exit_code == 0);
  node_process node(config);
  wait_ready(node);
  CHECK(stats_of(node)["model"]["name"] == "tiny-sd-single");
  auto png = muse::testing::decode_png(first_png(
      post(node, "/api/v1/generate", {{"prompt", "a red circle"}, {"seed", 3}, {"steps", 2}})));
  CHECK(png.width == 32);
  CHECK(png.height == 32);
  expect_clean_exit(node, SIGINT);
}

TEST_CASE("the shipped cluster_config/local.json serves the built-in model", "[integration]") {
  // What the README's run command starts: only the model path changes, because the config's
  // relative path resolves against its own folder and the node runs from a temporary one.
  const std::string root = std::string(MUSE_TEST_DATA) + "/../..";
  json config = json::parse(muse::testing::read_file(root + "/cluster_config/local.json"), nullptr,
                            true, /*ignore_comments=*/true);
  config["gateway"]["http_port"] = 0;
  config["model"]["path"] = root + "/model/weights/muse-tiny";
  node_process node(config);
  wait_ready(node);

  auto png = muse::testing::decode_png(
      first_png(post(node, "/api/v1/generate", {{"prompt", "red apple"}, {"seed", 1}})));
  CHECK(png.width == 64);
  CHECK(png.height == 64);
  auto page = http_request("GET", node.url("/"));
  CHECK(page.status == 200);
  CHECK(page.body.find("<html") != std::string::npos);
  expect_clean_exit(node, SIGTERM);
}
