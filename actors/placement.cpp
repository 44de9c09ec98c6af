#include "actors/placement.hpp"

namespace muse::actors {

caf::expected<worker_actor> local_placement::place(caf::actor_system& system,
                                                   const worker_options& options) {
  return spawn_model_worker(system, options, factory_);
}

}  // namespace muse::actors
