// Mutual TLS between the gateway and the GPU nodes, with certificates made by the openssl CLI at
// test time (no private key is ever committed).

#include <catch2/catch.hpp>
#include <cstdlib>
#include <future>

#include "cluster_harness.hpp"

using muse::testing::cluster;
using muse::testing::eventually;
using muse::testing::free_port;
using muse::testing::http_request;
using muse::testing::ready_on;
using muse::testing::stats_of;
using muse::testing::temp_folder;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

void run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

// A CA in `folder`/`ca`.key|.pem and a certificate `name`.pem/.key signed by it.
void make_ca(const temp_folder& folder, const std::string& ca) {
  auto base = folder.file(ca);
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + ca + " -keyout " + base +
      ".key -out " + base + ".pem");
}
void make_certificate(const temp_folder& folder, const std::string& ca, const std::string& name) {
  auto base = folder.file(name);
  auto ca_base = folder.file(ca);
  run("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + base + ".key -out " +
      base + ".csr");
  run("openssl x509 -req -days 2 -in " + base + ".csr -CA " + ca_base + ".pem -CAkey " + ca_base +
      ".key -CAcreateserial -out " + base + ".pem");
}

json tls_config(const temp_folder& certs, const std::string& name) {
  json config = json::parse(R"({
    "gateway": {"host": "127.0.0.1", "http_port": 0, "request_timeout_s": 30},
    "model": {"scheduler": "ddim", "fast_steps": 3, "width": 32, "height": 32,
              "intra_op_threads": 1},
    "batching": {"max_batch_size": 2, "max_wait_ms": 10},
    "cluster": {"heartbeat_ms": 200, "node_timeout_ms": 1000}
  })");
  config["model"]["path"] = std::string(MUSE_TEST_DATA) + "/tiny-sd";
  config["gateway"]["cluster_port"] = free_port();
  config["cluster"]["tls"] = {{"certificate", certs.file(name + ".pem")},
                              {"private_key", certs.file(name + ".key")},
                              {"ca_file", certs.file("ca.pem")}};
  for (std::string node : {"node-a", "node-b"})
    config["gpu_nodes"].push_back({{"name", node},
                                   {"host", "127.0.0.1"},
                                   {"port", free_port()},
                                   {"devices", {"cpu"}},
                                   {"slots_per_device", 1}});
  config["autoscale"] = {{"min_workers", 2}, {"max_workers", 2}};
  return config;
}

}  // namespace

TEST_CASE("with TLS the cluster works, and a node with a foreign certificate is refused",
          "[cluster][tls]") {
  temp_folder certs;
  make_ca(certs, "ca");
  make_certificate(certs, "ca", "member");
  make_ca(certs, "rogue-ca");
  make_certificate(certs, "rogue-ca", "intruder");

  auto config = tls_config(certs, "member");
  cluster c(config);
  // node-b presents a certificate the cluster's CA never signed (and trusts only its own CA).
  auto rogue = config;
  rogue["cluster"]["tls"] = {{"certificate", certs.file("intruder.pem")},
                             {"private_key", certs.file("intruder.key")},
                             {"ca_file", certs.file("rogue-ca.pem")}};
  auto rogue_file = c.folder().write("rogue.json", rogue.dump(2));
  c.start_node("node-a");
  c.start_node("node-b", rogue_file);
  c.start_gateway();
  REQUIRE(eventually([&] { return ready_on(c.stats(), "node-a") == 1; }, 60s, 50ms));
  json body = {{"prompt", "a green triangle"}, {"seed", 5}, {"quality", "fast"}};
  CHECK(http_request("POST", c.url("/api/v1/generate"), body.dump()).status == 200);
  // Give node-b every chance to join: it must not.
  std::this_thread::sleep_for(3s);
  CHECK(ready_on(c.stats(), "node-b") == 0);
  CHECK(c.gateway().log().find("node node-b does not answer") != std::string::npos);
}

TEST_CASE("with TLS two gateways share the pool, and a gateway with a foreign certificate cannot",
          "[cluster][tls][gateways]") {
  temp_folder certs;
  make_ca(certs, "ca");
  make_certificate(certs, "ca", "member");
  make_ca(certs, "rogue-ca");
  make_certificate(certs, "rogue-ca", "intruder");

  auto config = tls_config(certs, "member");
  for (std::string name : {"gw-1", "gw-2"})
    config["gateways"].push_back(
        {{"name", name}, {"host", "127.0.0.1"}, {"cluster_port", free_port()}});
  cluster c(config);
  auto rogue = config;
  rogue["cluster"]["tls"] = {{"certificate", certs.file("intruder.pem")},
                             {"private_key", certs.file("intruder.key")},
                             {"ca_file", certs.file("rogue-ca.pem")}};
  auto rogue_file = c.folder().write("rogue.json", rogue.dump(2));
  c.start_node("node-a");
  c.start_node("node-b");
  auto& leader = c.start_gateway("gw-1");
  auto ready = [&](const muse::testing::node_process& gateway) {
    auto s = stats_of(gateway);
    return ready_on(s, "node-a") + ready_on(s, "node-b");
  };
  REQUIRE(eventually([&] { return ready(leader) == 2; }, 60s, 50ms));

  // gw-2 with a certificate of another CA reaches neither the leader nor the nodes.
  auto& intruder = c.start_gateway("gw-2", rogue_file);
  std::this_thread::sleep_for(3s);
  CHECK(ready(intruder) == 0);
  CHECK(intruder.log().find("linked to gateway") == std::string::npos);
  intruder.kill_hard();

  auto& member = c.start_gateway("gw-2");
  REQUIRE(eventually([&] { return ready(member) == 2; }, 30s, 50ms));
  json body = {{"prompt", "a green triangle"}, {"seed", 5}, {"quality", "fast"}};
  CHECK(http_request("POST", member.url("/api/v1/generate"), body.dump()).status == 200);
  CHECK(member.log().find("linked to gateway gw-1") != std::string::npos);
}
