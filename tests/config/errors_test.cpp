#include <catch2/catch.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using muse::config::testing::problems_of;

TEST_CASE("an unknown key is named with the closest known key", "[config][errors]") {
  std::string problems = problems_of(R"({ "batching": { "max_batch_sise": 4 } })");
  CHECK_THAT(problems, StartsWith("batching.max_batch_sise: unknown key"));
  CHECK_THAT(problems, Contains("did you mean \"max_batch_size\""));

  CHECK_THAT(problems_of(R"({ "gatway": {} })"),
             StartsWith("gatway: unknown key; did you mean \"gateway\"?"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "devics": ["cpu"] } ] })"),
             Contains("gpu_nodes[0].devics: unknown key; did you mean \"devices\"?"));
}

TEST_CASE("a known key in the wrong section points to where it belongs", "[config][errors]") {
  CHECK_THAT(
      problems_of(R"({ "model": { "max_wait_ms": 10 } })"),
      Contains("model.max_wait_ms: unknown key here; did you mean \"batching.max_wait_ms\"?"));
}

TEST_CASE("an unknown key with nothing close lists the known keys", "[config][errors]") {
  CHECK_THAT(problems_of(R"({ "balancer": { "zzzzzzzzzzzz": 1 } })"),
             Contains("balancer.zzzzzzzzzzzz: unknown key; known keys here: policy"));
}

TEST_CASE("wrong types are named with what was expected and what was found", "[config][errors]") {
  CHECK_THAT(problems_of(R"({ "gateway": { "http_port": "8080" } })"),
             StartsWith("gateway.http_port: must be an integer, got string \"8080\""));
  CHECK_THAT(problems_of(R"({ "model": { "fast_steps": 2.5 } })"),
             StartsWith("model.fast_steps: must be an integer, got number 2.5"));
  CHECK_THAT(problems_of(R"({ "batching": { "step_level": 1 } })"),
             StartsWith("batching.step_level: must be true or false"));
  CHECK_THAT(problems_of(R"({ "model": 3 })"), StartsWith("model: must be an object"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": { "name": "a" } })"),
             StartsWith("gpu_nodes: must be an array"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ "a" ] })"),
             StartsWith("gpu_nodes[0]: must be an object"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "devices": "cpu" } ] })"),
             StartsWith("gpu_nodes[0].devices: must be an array of strings"));
  CHECK_THAT(problems_of(R"({ "auth": { "cors_origins": ["http://a", 7] } })"),
             StartsWith("auth.cors_origins[1]: must be a string, got number 7"));
  CHECK_THAT(problems_of(R"({ "cluster": { "tls": "yes" } })"),
             StartsWith("cluster.tls: must be null (no TLS) or an object"));
  CHECK_THAT(problems_of("[1, 2]"), StartsWith("<config>: must be a JSON object"));
  CHECK_THAT(problems_of(R"({ "slack": null })"),
             StartsWith("slack: must be an object { ... }, got null"));
}

TEST_CASE("values out of range are named with the range", "[config][errors]") {
  CHECK_THAT(problems_of(R"({ "batching": { "max_batch_size": 0 } })"),
             StartsWith("batching.max_batch_size: must be 1..256, got 0"));
  CHECK_THAT(problems_of(R"({ "gateway": { "http_port": 70000 } })"),
             StartsWith("gateway.http_port: must be 0..65535, got 70000"));
  CHECK_THAT(problems_of(R"({ "gateway": { "cluster_port": 0 } })"),
             StartsWith("gateway.cluster_port: must be 1..65535, got 0"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "port": -1 } ] })"),
             StartsWith("gpu_nodes[0].port: must be 1..65535, got -1"));
  CHECK_THAT(problems_of(R"({ "model": { "quality_steps": 151 } })"),
             StartsWith("model.quality_steps: must be 1..150, got 151"));
  CHECK_THAT(problems_of(R"({ "model": { "fast_steps": 0 } })"),
             StartsWith("model.fast_steps: must be 1..150, got 0"));
  CHECK_THAT(problems_of(R"({ "autoscale": { "target_utilisation": 1.5 } })"),
             StartsWith("autoscale.target_utilisation: must be 0.05..1, got 1.5"));
  CHECK_THAT(problems_of(R"({ "autoscale": { "scale_up_check_s": 0 } })"),
             StartsWith("autoscale.scale_up_check_s: must be 1..3600, got 0"));
  CHECK_THAT(problems_of(R"({ "autoscale": { "backlog_s": 0.5 } })"),
             StartsWith("autoscale.backlog_s: must be 1..3600, got 0.5"));
  CHECK_THAT(problems_of(R"({ "autoscale": { "policy": "candidate" } })"),
             StartsWith("autoscale.policy: must be one of"));
  CHECK_THAT(problems_of(R"({ "gateway": { "max_body_bytes": 18446744073709551615 } })"),
             StartsWith("gateway.max_body_bytes: must be 16..1073741824"));
  CHECK_THAT(problems_of(R"({ "model": { "width": 100 } })"),
             StartsWith("model.width: must be a multiple of 8, got 100"));
  CHECK_THAT(problems_of(R"({ "model": { "height": 4 } })"),
             StartsWith("model.height: must be 8..4096"));
  CHECK_THAT(problems_of(R"({ "model": { "memory_budget_mb": -1 } })"),
             StartsWith("model.memory_budget_mb: must be 0..16777216, got -1"));
}

TEST_CASE("bad enum strings list the allowed values", "[config][errors]") {
  std::string problems = problems_of(R"({ "balancer": { "policy": "round-robin" } })");
  CHECK_THAT(problems, StartsWith("balancer.policy: must be one of round_robin | least_loaded"));
  CHECK_THAT(problems, Contains("did you mean \"round_robin\"?"));
  CHECK_THAT(problems_of(R"({ "model": { "dtype": "fp16" } })"),
             StartsWith("model.dtype: must be one of float32 | float16 | bfloat16, got \"fp16\""));
  CHECK_THAT(problems_of(R"({ "model": { "scheduler": "lms" } })"),
             StartsWith("model.scheduler: must be one of"));
  CHECK_THAT(problems_of(R"({ "model": { "type": "zero_compute" } })"),
             StartsWith("model.type: must be one of"));
  CHECK(problems_of(R"({ "model": { "type": "benchmark_zero_compute" } })") == "");
  CHECK_THAT(problems_of(R"({ "slack": { "post_mode": "email" } })"),
             StartsWith("slack.post_mode: must be one of"));
  CHECK_THAT(problems_of(R"({ "autoscale": { "policy": "" } })"),
             StartsWith("autoscale.policy: must not be empty"));
}

TEST_CASE("devices are cpu, cuda or cuda:N, each GPU once", "[config][errors]") {
  CHECK(problems_of(
            R"({ "gpu_nodes": [ { "name": "a", "devices": ["cuda", "cuda:1", "cuda:12"] } ] })") ==
        "");
  CHECK_THAT(
      problems_of(R"({ "gpu_nodes": [ { "name": "a", "devices": ["gpu0"] } ] })"),
      StartsWith("gpu_nodes[0].devices[0]: must be \"cpu\", \"cuda\" or \"cuda:N\", got \"gpu0\""));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "devices": ["cpu", "cuda:x"] } ] })"),
             StartsWith("gpu_nodes[0].devices[1]: must be"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "devices": ["cuda", "cuda:0"] } ] })"),
             StartsWith("gpu_nodes[0].devices[1]: \"cuda:0\" is listed twice"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "devices": [] } ] })"),
             StartsWith("gpu_nodes[0].devices: must list at least one device"));
}

TEST_CASE("a node without a name is reported as missing its required key", "[config][errors]") {
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "port": 4400 }, { "port": 4401 } ] })"),
             StartsWith("gpu_nodes[1].name: required"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "" } ] })"),
             StartsWith("gpu_nodes[0].name: must not be empty"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a b" } ] })"),
             StartsWith("gpu_nodes[0].name: may hold only"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [] })"),
             StartsWith("gpu_nodes: must list at least one node"));
}

TEST_CASE("rules across keys are checked", "[config][errors]") {
  CHECK_THAT(problems_of(R"({ "autoscale": { "min_workers": 5, "max_workers": 4 } })"),
             Contains("autoscale.min_workers: must not exceed autoscale.max_workers (5 > 4)"));
  CHECK_THAT(problems_of(R"({ "autoscale": { "min_workers": 2 } })"),
             Contains("autoscale.min_workers: 2 workers need more slots than gpu_nodes offer (1"));
  CHECK_THAT(
      problems_of(
          R"({ "gpu_nodes": [ { "name": "a", "port": 4400 }, { "name": "a", "port": 4401 } ] })"),
      StartsWith("gpu_nodes[1].name: \"a\" is already the name of gpu_nodes[0]"));
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a" }, { "name": "b" } ] })"),
             StartsWith("gpu_nodes[1].port: 127.0.0.1:4301 is already used by gpu_nodes[0]"));
  CHECK(
      problems_of(
          R"({ "gpu_nodes": [ { "name": "a", "host": "h1" }, { "name": "b", "host": "h2" } ] })") ==
      "");
  CHECK_THAT(problems_of(R"({ "gpu_nodes": [ { "name": "a", "port": 4300 } ] })"),
             StartsWith("gpu_nodes[0].port: 4300 is also gateway.cluster_port on the same host"));
  CHECK_THAT(problems_of(R"({ "gateway": { "http_port": 4300 } })"),
             StartsWith("gateway.cluster_port: must differ from gateway.http_port"));
  CHECK(problems_of(R"({ "gateway": { "http_port": 0 } })") == "");
  CHECK_THAT(problems_of(R"({ "cluster": { "heartbeat_ms": 1000, "node_timeout_ms": 1500 } })"),
             StartsWith("cluster.node_timeout_ms: must be at least twice cluster.heartbeat_ms"));
  CHECK_THAT(problems_of(R"({ "slack": { "post_mode": "upload" } })"),
             StartsWith("slack.bot_token_env: required when slack.post_mode is \"upload\""));
}

TEST_CASE("TLS needs certificate, key and CA files", "[config][errors]") {
  std::string problems = problems_of(R"({ "cluster": { "tls": { "certificate": "c.pem" } } })");
  CHECK_THAT(problems,
             Contains("cluster.tls.private_key: required: a PEM file path when TLS is on"));
  CHECK_THAT(problems, Contains("cluster.tls.ca_file: required: a PEM file path when TLS is on"));
  CHECK_THAT(problems_of(R"({ "cluster": { "tls": { "certificate": "c", "private_key": "k",
                                                    "ca_file": "a", "cipher": "x" } } })"),
             StartsWith("cluster.tls.cipher: unknown key"));
}

TEST_CASE("every problem is reported, one per line, path first", "[config][errors]") {
  std::string text = R"({
    "gateway": { "http_port": -5, "hots": "x" },
    "model": { "fast_steps": "many" },
    "gpu_nodes": [ { "port": 1 } ]
  })";
  try {
    parse_config(text);
    FAIL("a bad config was accepted");
  } catch (const config_error& error) {
    std::string what = error.what();
    CHECK(error.path() == "gateway.http_port");
    CHECK_THAT(what, StartsWith("gateway.http_port: must be 0..65535, got -5\n"));
    CHECK_THAT(what, Contains("\ngateway.hots: unknown key; did you mean \"host\"?"));
    CHECK_THAT(what, Contains("\nmodel.fast_steps: must be an integer"));
    CHECK_THAT(what, Contains("\ngpu_nodes[0].name: required"));
    CHECK(std::count(what.begin(), what.end(), '\n') == 3);
  }
}

TEST_CASE("invalid JSON is reported with line and column", "[config][errors]") {
  CHECK_THAT(problems_of("{\n  \"gateway\": {\n    \"http_port\": 80,,\n  }\n}", "deploy.json"),
             StartsWith("deploy.json:3:21: invalid JSON: syntax error"));
  CHECK_THAT(problems_of("{ \"model\": { \"path\": \"x\" }"), StartsWith("<config>:1:"));
  CHECK_THAT(problems_of(""), Contains("invalid JSON"));
  // A number past a double's range is nlohmann's out_of_range, not a parse_error.
  CHECK(problems_of("{ \"model\": { \"width\": 1" + std::string(400, '0') + " } }",
                    "deploy.json") == "deploy.json: invalid JSON: a number is too large");
  CHECK(problems_of(std::string(400, '9')) == "<config>: invalid JSON: a number is too large");
}

TEST_CASE("a key given twice is an error, not a silent override", "[config][errors]") {
  CHECK_THAT(problems_of(R"({ "model": { "width": 64 }, "model": { "height": 64 } })"),
             StartsWith("model: duplicate key"));
  CHECK_THAT(
      problems_of(R"({ "gpu_nodes": [ { "name": "a" }, { "name": "b", "port": 1, "port": 2 } ] })"),
      StartsWith("gpu_nodes[1].port: duplicate key"));
}

TEST_CASE("a shortened key is matched to the key it abbreviates", "[config][errors]") {
  CHECK_THAT(problems_of(R"({ "gateway": { "max_body": 5 } })"),
             StartsWith("gateway.max_body: unknown key; did you mean \"max_body_bytes\"?"));
}
