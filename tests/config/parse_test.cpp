#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "config_test_support.hpp"

using namespace muse::config;
using muse::config::testing::problems_of;

TEST_CASE("an empty object gives every default and one local CPU node", "[config]") {
  deployment_config config = parse_config("{}");
  CHECK(config.gateway.http_port == 8080);
  CHECK(config.gateway.cluster_port == 4300);
  CHECK(config.gateway.request_timeout_s == 120);
  CHECK(config.models[0].path == "model/weights/muse-tiny");
  CHECK(config.models[0].fast_steps == 25);
  CHECK(config.models[0].quality_steps == 50);
  CHECK(config.batching.max_batch_size == 8);
  CHECK(config.balancer.policy == "least_loaded");
  CHECK(config.autoscale.interval_s == 30);
  CHECK(config.autoscale.policy == "full_batch");
  CHECK(config.autoscale.scale_up_check_s == 5);
  CHECK(config.autoscale.backlog_s == 10);
  CHECK_FALSE(config.cluster.tls.has_value());
  REQUIRE(config.gpu_nodes.size() == 1);
  const gpu_node_config& node = config.gpu_nodes[0];
  CHECK(node.name == "local");
  CHECK(node.host == "127.0.0.1");
  CHECK(node.port == 4301);
  CHECK(node.devices == std::vector<std::string>{"cpu"});
  CHECK(node.slots_per_device == 1);
}

TEST_CASE("every key of a full file is read", "[config]") {
  deployment_config config = parse_config(R"({
    "gateway": { "host": "0.0.0.0", "http_port": 0, "cluster_port": 5300, "http_threads": 3,
                 "max_body_bytes": 4096, "request_timeout_s": 9, "max_prompt_chars": 77,
                 "max_connections": 12, "public_url": "https://muse.example.org" },
    "gpu_nodes": [ { "name": "a", "host": "10.0.0.2", "port": 6000, "devices": ["cuda:0", "cuda:1"],
                     "slots_per_device": 2 },
                   { "name": "b", "host": "10.0.0.3", "devices": ["cuda"] } ],
    "model": { "path": "/models/sd15", "dtype": "float16", "scheduler": "euler_ancestral",
               "fast_steps": 10, "quality_steps": 30, "guidance_scale": 5, "width": 512,
               "height": 768, "max_images_per_request": 2, "intra_op_threads": 4,
               "cuda_graphs": false, "memory_budget_mb": 20000 },
    "batching": { "max_batch_size": 12, "max_wait_ms": 2000, "max_queue": 10, "step_level": false },
    "balancer": { "policy": "round_robin" },
    "autoscale": { "interval_s": 5, "min_workers": 2, "max_workers": 20, "target_utilisation": 0.5,
                   "scale_down_after": 3, "policy": "queue_threshold", "scale_up_check_s": 2,
                   "backlog_s": 7.5 },
    "cluster": { "tls": null, "heartbeat_ms": 200, "node_timeout_ms": 1000 },
    "auth": { "api_keys_env": "KEYS", "cors_origins": ["*"] },
    "slack": { "signing_secret_env": "S", "bot_token_env": "T", "api_base": "http://127.0.0.1:9/api",
               "post_mode": "upload" }
  })");
  CHECK(config.gateway.host == "0.0.0.0");
  CHECK(config.gateway.http_port == 0);
  CHECK(config.gateway.cluster_port == 5300);
  CHECK(config.gateway.http_threads == 3);
  CHECK(config.gateway.max_body_bytes == 4096);
  CHECK(config.gateway.request_timeout_s == 9);
  CHECK(config.gateway.max_prompt_chars == 77);
  CHECK(config.gateway.max_connections == 12);
  CHECK(config.gateway.public_url == "https://muse.example.org");
  REQUIRE(config.gpu_nodes.size() == 2);
  CHECK(config.gpu_nodes[0].devices == std::vector<std::string>{"cuda:0", "cuda:1"});
  CHECK(config.gpu_nodes[0].slots_per_device == 2);
  CHECK(config.gpu_nodes[1].port == 4301);  // the default, on another host
  CHECK(config.models[0].path == "/models/sd15");
  CHECK(config.models[0].dtype == "float16");
  CHECK(config.models[0].scheduler == "euler_ancestral");
  CHECK(config.models[0].guidance_scale == 5.0f);
  CHECK(config.models[0].width == 512);
  CHECK(config.models[0].height == 768);
  CHECK(config.models[0].intra_op_threads == 4);
  CHECK_FALSE(config.models[0].cuda.graphs);
  CHECK(config.models[0].memory_budget_mb == 20000);
  CHECK(config.batching.max_wait_ms == 2000);
  CHECK_FALSE(config.batching.step_level);
  CHECK(config.balancer.policy == "round_robin");
  CHECK(config.autoscale.target_utilisation == Approx(0.5));
  CHECK(config.autoscale.policy == "queue_threshold");
  CHECK(config.autoscale.scale_up_check_s == 2);
  CHECK(config.autoscale.backlog_s == Approx(7.5));
  CHECK(config.cluster.node_timeout_ms == 1000);
  CHECK(config.auth.api_keys_env == "KEYS");
  CHECK(config.auth.cors_origins == std::vector<std::string>{"*"});
  CHECK(config.slack.post_mode == "upload");
}

TEST_CASE("comments of both kinds are accepted", "[config]") {
  deployment_config config = parse_config(R"(
    // a line comment
    { /* a block
         comment */ "batching": { "max_batch_size": 3 /* inline */ } // trailing
    })");
  CHECK(config.batching.max_batch_size == 3);
}

TEST_CASE("to_json gives every key, and its output parses back to the same config", "[config]") {
  deployment_config config = parse_config(R"({
    "gateway": { "http_port": 0 },
    "gpu_nodes": [ { "name": "n1", "port": 4400, "devices": ["cpu", "cpu"], "slots_per_device": 3 } ],
    "model": { "guidance_scale": 3.3, "scheduler": "pndm" },
    "autoscale": { "max_workers": 6 },
    "cluster": { "tls": { "certificate": "c.pem", "private_key": "k.pem", "ca_file": "ca.pem" } },
    "auth": { "cors_origins": ["http://a.example"] }
  })");
  nlohmann::json effective = to_json(config);
  for (const char* section : {"gateway", "gpu_nodes", "model", "batching", "balancer", "autoscale",
                              "cluster", "auth", "slack"})
    CHECK(effective.contains(section));
  CHECK(effective["gateway"].size() == 23);
  CHECK(effective["model"].size() == 19);
  CHECK(effective["batching"]["max_queue"] == 1000);
  CHECK(effective["model"]["guidance_scale"].get<double>() == Approx(3.3));
  CHECK(effective["cluster"]["tls"]["ca_file"] == "ca.pem");

  deployment_config again = parse_config(effective.dump());
  CHECK(to_json(again) == effective);
  CHECK(again.gpu_nodes[0].slots_per_device == 3);
  CHECK(again.cluster.tls->private_key == "k.pem");
}

TEST_CASE("to_json writes a missing TLS section as null", "[config]") {
  nlohmann::json effective = to_json(parse_config("{}"));
  CHECK(effective["cluster"]["tls"].is_null());
  CHECK(effective["gpu_nodes"][0]["name"] == "local");
  CHECK(problems_of(effective.dump()) == "");
}
