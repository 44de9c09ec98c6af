#pragma once
// A model worker: owns one model::generator and runs it on a thread of its own (never on CAF's
// cooperative scheduler). Answers load once the model is loaded (or quits with the load error).
// With step_level it keeps one running batch and lets newly assigned samples of the same batch
// key (size and scheduler: step counts and guidance may differ) join between denoising steps, up
// to max_batch_size; otherwise it runs each batch it was given to completion before starting the
// next. Results and per-step progress go to the actor that sent the sample's batch (several
// gateways' balancers may share a worker). The worker monitors every actor that loads it or sends
// it work: when one goes, its samples are cancelled; when the last goes (or the links to their
// processes do), the worker stops at its next step.

#include <functional>
#include <memory>

#include "actors/messages.hpp"
#include "cluster_config/config.hpp"

namespace muse::actors {

using generator_factory =
    std::function<std::unique_ptr<model::generator>(const worker_options& options)>;

// model::load_generator with the options' model settings, on the options' device.
generator_factory production_generator_factory();

worker_actor spawn_model_worker(caf::actor_system& system, worker_options options,
                                generator_factory factory);

// Registers the "model_worker" actor type (always the real model) for remote spawning;
// `on_spawn`, when given, sees every worker spawned that way with its options (a GPU node stops
// the workers the gateway no longer counts, and drains the rest on SIGTERM).
void add_model_worker_type(
    caf::actor_system_config& config,
    std::function<void(const worker_actor&, const worker_options&)> on_spawn = {});

// The options of one worker slot serving `model` (one of config.models), from the deployment
// config.
worker_options make_worker_options(const config::deployment_config& config,
                                   const config::model_config& model, std::string id,
                                   std::string node, std::string device);

}  // namespace muse::actors
