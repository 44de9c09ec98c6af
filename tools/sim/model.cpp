#include "tools/sim/model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace muse::sim {
namespace {

constexpr double pi = 3.14159265358979323846;
constexpr double flash_phase_s = 1800;
constexpr double flash_ramp_s = 60;
constexpr double step_s = 1200;
const std::vector<double> step_levels = {0.1, 0.4, 0.7, 1.0, 0.55, 0.1};

}  // namespace

service_model::service_model(std::vector<std::pair<int, double>> points)
    : points_(std::move(points)) {
  if (points_.size() < 2) throw std::invalid_argument("a service model needs two batch sizes");
  for (size_t i = 1; i < points_.size(); ++i)
    if (points_[i].first <= points_[i - 1].first)
      throw std::invalid_argument("service model batch sizes must ascend");
}

service_model service_model::h200_sd15_fast() {
  return service_model({{1, 1 / 5.48}, {4, 4 / 8.29}, {8, 8 / 8.90}, {16, 16 / 9.07}});
}

double service_model::seconds(int batch) const {
  size_t hi = 1;
  while (hi + 1 < points_.size() && points_[hi].first < batch) ++hi;
  const auto& [b0, s0] = points_[hi - 1];
  const auto& [b1, s1] = points_[hi];
  return std::max(0.0, s0 + (s1 - s0) * (batch - b0) / (b1 - b0));
}

double trace::rate(double t) const {
  const double night = peak_per_s / 10;
  if (name == "constant") return peak_per_s;
  if (name == "diurnal")
    return night + (peak_per_s - night) * (1 - std::cos(2 * pi * t / duration_s)) / 2;
  if (name == "flash") {
    auto ramp = [](double x) { return std::clamp(x / flash_ramp_s, 0.0, 1.0); };
    double up = ramp(t - flash_phase_s) - ramp(t - 2 * flash_phase_s - flash_ramp_s);
    return night + (peak_per_s - night) * up;
  }
  if (name == "steps") {
    auto i = std::min(static_cast<size_t>(std::max(t, 0.0) / step_s), step_levels.size() - 1);
    return peak_per_s * step_levels[i];
  }
  throw std::invalid_argument("unknown trace " + name);
}

trace trace::make(const std::string& name, double peak_per_s, double day_s) {
  trace made{name, 0, peak_per_s};
  if (name == "constant" || name == "diurnal")
    made.duration_s = day_s;
  else if (name == "flash")
    made.duration_s = 3 * flash_phase_s + 2 * flash_ramp_s;
  else if (name == "steps")
    made.duration_s = step_s * step_levels.size();
  else
    throw std::invalid_argument("unknown trace " + name + " (constant, diurnal, flash, steps)");
  return made;
}

const std::vector<std::string>& trace::names() {
  static const std::vector<std::string> all = {"diurnal", "flash", "steps"};
  return all;
}

}  // namespace muse::sim
