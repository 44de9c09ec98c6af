#pragma once
// Where a model worker runs. The supervisor decides WHAT to run (which slots, restarts, drain);
// a placement decides WHERE: local_placement spawns in this process (role "all"); a placement
// for role "gateway" remote_spawns "model_worker" on the GPU node named by options.node. Nothing
// else in the supervisor changes between the two.

#include <memory>

#include "actors/messages.hpp"
#include "actors/model_worker.hpp"

namespace muse::actors {

class worker_placement {
 public:
  virtual ~worker_placement() = default;
  // Starts one worker. May block (a remote spawn waits for its node): the supervisor calls it
  // from its own thread. An error when the worker cannot be started there now.
  virtual caf::expected<worker_actor> place(caf::actor_system& system,
                                            const worker_options& options) = 0;
  // A worker on `node` died: a placement that keeps a link to the node drops it, so that the
  // next place() connects afresh (the node may have restarted) instead of using a dead link.
  virtual void forget(const std::string& node) {}
  // Whether the nodes are reached over cluster links: then the supervisor probes a node it cannot
  // reach (node_table.hpp). False for workers in this process.
  virtual bool links_nodes() const { return false; }
  // A probe linked to `node`: place() uses that link rather than connecting again (a second
  // connection to a linked node breaks the first one's link).
  virtual void linked(const std::string& node, const caf::node_id& id) {}
};

// Workers in this process, each generator made by `factory` (the real model in production).
class local_placement : public worker_placement {
 public:
  explicit local_placement(generator_factory factory) : factory_(std::move(factory)) {}
  caf::expected<worker_actor> place(caf::actor_system& system,
                                    const worker_options& options) override;

 private:
  generator_factory factory_;
};

}  // namespace muse::actors
