#include "actors/gateway.hpp"

#include <caf/io/all.hpp>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include "actors/balancer.hpp"
#include "actors/batcher.hpp"
#include "actors/gateway_peers.hpp"
#include "actors/gateway_with_placement.hpp"
#include "actors/ingress.hpp"
#include "actors/log.hpp"
#include "actors/model_worker.hpp"
#include "actors/remote_placement.hpp"
#include "actors/stats.hpp"
#include "actors/supervisor.hpp"
#include "actors/system_setup.hpp"

namespace muse::actors {
namespace {

using clock = std::chrono::steady_clock;

constexpr auto worker_stop_timeout = std::chrono::seconds(10);

// Polls `done` every few milliseconds until it holds or `limit` passes.
template <class Predicate>
bool wait_for(Predicate done, std::chrono::milliseconds limit) {
  auto until = clock::now() + limit;
  while (!done()) {
    if (clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Calls a stats callback exactly once: with the answer, or, if none came before the last
// reference went (the stats actor stopped with the request in its mailbox), with why.
class answer_once {
 public:
  explicit answer_once(stats_callback done) : done_(std::move(done)) {}
  ~answer_once() {
    if (!done_) return;
    try {
      done_(stats_reply{std::nullopt, false, "the gateway has shut down"});
    } catch (...) {
      log_warning("gateway", "stats callback threw");
    }
  }
  void answer(stats_reply reply) {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(reply));
  }

 private:
  stats_callback done_;
};

std::set<std::string> idle_to_zero(const config::deployment_config& config) {
  std::set<std::string> names;
  for (const auto& model : config.models)
    if (model.min_workers == 0) names.insert(model.name);
  return names;
}

class actor_gateway final : public gateway {
 public:
  // peer_index: this gateway's place in config.gateways; -1 for a gateway of its own.
  actor_gateway(const config::deployment_config& config,
                std::shared_ptr<worker_placement> placement, int32_t peer_index)
      : status_(std::make_shared<shared_status>(config.model_names(), idle_to_zero(config))) {
    add_message_types(system_config_);
    configure_actor_system(system_config_, config.cluster);
    system_ = std::make_unique<caf::actor_system>(system_config_);
    auto& sys = *system_;
    stats_ = spawn_stats(sys, status_);
    balancer_ = spawn_balancer(sys, config, stats_, status_);
    batcher_ = spawn_batcher(sys, config.batching, balancer_);
    ingress_ = spawn_ingress(sys, batcher_, stats_, status_,
                             peer_index < 0 ? sample_id{1} : first_sample_id_of(peer_index));
    caf::anon_send(balancer_, register_atom::value, ingress_, batcher_);
    caf::anon_send(stats_, register_atom::value, batcher_, balancer_);
    if (peer_index < 0) {
      supervisor_ = spawn_supervisor(sys, config, std::move(placement), balancer_, stats_);
      caf::anon_send(supervisor_, start_atom::value);
    } else {
      // The supervisor runs where the peers elect it; this gateway's may start later, or never.
      peers_ =
          start_gateway_peers(sys, config, peer_index, std::move(placement), balancer_, stats_);
    }
    log_info("gateway", "actors started (" + config.balancer.policy + ", batches of up to " +
                            std::to_string(config.batching.max_batch_size) + ")");
  }

  ~actor_gateway() override { shutdown(std::chrono::milliseconds(0)); }

  void submit(generate_order order, outcome_callback done, progress_callback progress) override {
    std::shared_lock<std::shared_mutex> lock(lifecycle_);
    if (stopped_) {
      generate_outcome outcome;
      outcome.id = order.id;
      outcome.error = failure::shutting_down;
      outcome.message = "the server is shutting down";
      lock.unlock();
      if (done) done(std::move(outcome));
      return;
    }
    caf::anon_send(ingress_, submit_atom::value,
                   order_ticket{std::move(order), std::move(done), std::move(progress)});
  }

  void cancel(const std::string& order_id) override {
    std::shared_lock<std::shared_mutex> lock(lifecycle_);
    if (!stopped_) caf::anon_send(ingress_, cancel_atom::value, order_id);
  }

  // A model that scales to zero serves once asked: its orders wait for the worker they start.
  bool ready() const override {
    return (status_->ready_workers > 0 || status_->any_scales_to_zero()) && !status_->shutting_down;
  }

  int ready_workers(const std::string& model) const override {
    return status_->ready_workers_of(model);
  }

  model_limits limits(const std::string& model) const override {
    auto served = status_->model(model);
    return served ? served->limits : model_limits{};
  }

  void stats(stats_callback done) const override {
    std::shared_lock<std::shared_mutex> lock(lifecycle_);
    if (stopped_) {
      lock.unlock();
      done(stats_reply{std::nullopt, false, "the gateway has shut down"});
      return;
    }
    // Sent like an order, never waited for: a thread that waits on the actors through a scoped
    // actor (or spawns one) is one the actor system's teardown waits for. The request is answered
    // once; if the stats actor stops first (shutdown), the last copy of the callback answers.
    auto once = std::make_shared<answer_once>(std::move(done));
    caf::anon_send(stats_, snapshot_atom::value,
                   stats_ticket{[once](stats_reply reply) { once->answer(std::move(reply)); }});
  }

  void shutdown(std::chrono::milliseconds grace) override {
    std::unique_lock<std::shared_mutex> lock(lifecycle_);
    if (stopped_) return;
    status_->shutting_down = true;
    log_info("gateway",
             "shutting down: " + std::to_string(status_->open_orders.load()) + " orders in flight");
    wait_for([&] { return status_->open_orders.load() == 0; }, grace);
    stopped_ = true;
    {
      caf::scoped_actor self{*system_};
      // Every submit that reached the ingress before this request is answered by now.
      self->request(ingress_, caf::infinite, shutdown_atom::value)
          .receive(
              [&](uint64_t unanswered) {
                if (unanswered > 0)
                  log_warning("gateway",
                              std::to_string(unanswered) +
                                  " orders answered shutting_down after the grace period");
              },
              [&](caf::error& err) { log_warning("gateway", "ingress: " + system_->render(err)); });
      if (peers_) {
        // The pool goes on for the other gateways: leave it, do not drain it.
        self->request(peers_, worker_stop_timeout, shutdown_atom::value)
            .receive([&](bool) {}, [&](caf::error&) {});
      } else {
        self->request(supervisor_, worker_stop_timeout, shutdown_atom::value)
            .receive([&](bool) {},
                     [&](caf::error&) {
                       log_warning("gateway", "workers did not stop in time; killing them");
                     });
      }
      for (auto handle :
           {caf::actor_cast<caf::actor>(ingress_), caf::actor_cast<caf::actor>(batcher_),
            caf::actor_cast<caf::actor>(balancer_), caf::actor_cast<caf::actor>(stats_),
            caf::actor_cast<caf::actor>(supervisor_), caf::actor_cast<caf::actor>(peers_)})
        if (handle) self->send_exit(handle, caf::exit_reason::user_shutdown);
    }
    ingress_ = ingress_actor{};
    batcher_ = batcher_actor{};
    balancer_ = balancer_actor{};
    stats_ = stats_actor{};
    supervisor_ = supervisor_actor{};
    peers_ = gateway_peers_actor{};
    system_.reset();  // waits until every actor (workers included) has finished
    log_info("gateway", "stopped");
  }

 private:
  caf::actor_system_config system_config_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<shared_status> status_;
  stats_actor stats_;
  balancer_actor balancer_;
  batcher_actor batcher_;
  ingress_actor ingress_;
  supervisor_actor supervisor_;
  gateway_peers_actor peers_;  // with several gateways (then no supervisor_ here)
  mutable std::shared_mutex lifecycle_;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<gateway> start_gateway(const config::deployment_config& config,
                                       std::shared_ptr<worker_placement> placement,
                                       const std::string& gateway_name) {
  int32_t peer_index = -1;
  if (!gateway_name.empty() || !config.gateways.empty()) {
    for (size_t i = 0; i < config.gateways.size(); ++i)
      if (config.gateways[i].name == gateway_name) peer_index = static_cast<int32_t>(i);
    if (peer_index < 0)
      throw std::invalid_argument("no gateway named '" + gateway_name +
                                  "' in the config's gateways");
  }
  return std::make_unique<actor_gateway>(config, std::move(placement), peer_index);
}

std::unique_ptr<gateway> start_gateway(const config::deployment_config& config,
                                       const std::string& role, const std::string& gateway_name) {
  if (role == "all") {
    if (!config.gateways.empty())
      throw std::invalid_argument("a config with a gateways list runs --role=gateway processes");
    return start_gateway(config, std::make_shared<local_placement>(production_generator_factory()));
  }
  if (role == "gateway")
    return start_gateway(
        config, std::make_shared<remote_placement>(config.gpu_nodes, config.cluster), gateway_name);
  throw std::invalid_argument("role must be all or gateway to start a gateway, not '" + role + "'");
}

}  // namespace muse::actors
