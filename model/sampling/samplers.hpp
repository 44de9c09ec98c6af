#pragma once
// One constructor per sampler, each in its own file of model/sampling/. `r` reads the sampler's
// effective config (scheduler_factory::effective_config); each throws model_error naming a value
// it cannot run.

#include <memory>

#include "model/sampling/noise_schedule.hpp"
#include "model/sampling/scheduler.hpp"

namespace muse::model::sampling {

std::unique_ptr<scheduler> make_ddim(const config_reader& r, int steps);
std::unique_ptr<scheduler> make_pndm(const config_reader& r, int steps);
std::unique_ptr<scheduler> make_euler(const config_reader& r, int steps);
std::unique_ptr<scheduler> make_euler_ancestral(const config_reader& r, int steps);
// DPM++ 2M; `karras` picks Karras sigmas (dpmpp_2m_karras).
std::unique_ptr<scheduler> make_dpmpp_2m(const config_reader& r, int steps, bool karras);

}  // namespace muse::model::sampling
