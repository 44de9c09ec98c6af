#pragma once
// Runs the load a bench_options describes and measures it. Each --threads thread runs its own
// event loop (a lane) with its own share of the users or of the arrival rate and its own counts,
// so the hot path takes no lock; the lanes share only the request budget and the stop flag.

#include <cstddef>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/bench_result.hpp"

namespace muse::bench {

// Throws std::runtime_error when the target cannot be resolved or the process may not open the
// connections it needs. With `stop_on_interrupt`, SIGINT/SIGTERM end the run early and keep what
// was measured (a second one abandons requests still in flight).
bench_result run_load(const bench_options& options, bool stop_on_interrupt = false);

// Raises the open-file limit to what `connections` need, or throws saying how far short it is.
void ensure_descriptor_limit(size_t connections);

// The open-file hard limit (a large number when unlimited).
size_t descriptor_hard_limit();

}  // namespace muse::bench
