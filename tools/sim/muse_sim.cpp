// muse-sim: the autoscaling policies against arrival traces on a simulated GPU pool (README.md
// in tools/ says how; docs/benchmarks.md quotes its figures).
//
//   muse-sim [--traces diurnal,flash,steps] [--policies
//   seed,queue_threshold,capacity,full_batch,oracle]
//            [--gpus 10,100,1000] [--peak-share 0.75] [--day-s 86400] [--interval-s 30]
//            [--scale-up-check-s 5] [--startup-s 10] [--failures-per-hour 1] [--repair-s 600]
//            [--gpus-per-node 8]
//            [--max-batch 8] [--oracle-beta 0] [--seed 1]
//            [--out DIR]
//
// Prints one table row per trace x scale x policy. With --out: DIR/results.jsonl (one object per
// run), DIR/ticks/TRACE-GPUS-POLICY.csv (every supervisor tick) and DIR/plot/TRACE/POLICY-GPUS.json
// (muse-bench's result shape, for tools/bench/plot.py).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tools/sim/model.hpp"
#include "tools/sim/simulator.hpp"

namespace {

using muse::sim::sim_result;
using muse::sim::sim_settings;
using muse::sim::trace;

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> parts;
  std::stringstream in(list);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

int usage(const char* why) {
  std::cerr << "muse-sim: " << why
            << "\nusage: muse-sim [--traces diurnal,flash,steps] "
               "[--policies seed,queue_threshold,capacity,full_batch,oracle] [--gpus 10,100,1000] "
               "[--peak-share 0.75] [--day-s 86400] [--interval-s 30] [--scale-up-check-s 5] "
               "[--startup-s 10] "
               "[--failures-per-hour 1] [--repair-s 600] [--gpus-per-node 8] [--max-batch 8] "
               "[--oracle-beta 0] [--seed 1] [--out DIR]\n";
  return 2;
}

void write_ticks(const std::filesystem::path& path, const sim_result& result) {
  std::ofstream out(path);
  out << "at_s,rate_per_s,arrivals_per_s,queue_depth,in_flight,workers,ready,target,"
         "images_per_s_per_worker,full_batch_images_per_s\n";
  for (auto& t : result.ticks)
    out << t.at_s << ',' << t.rate_per_s << ',' << t.inputs.arrivals_per_s << ','
        << t.inputs.queue_depth << ',' << t.inputs.in_flight << ',' << t.inputs.workers << ','
        << t.ready << ',' << t.target << ',' << t.inputs.images_per_s_per_worker << ','
        << t.inputs.full_batch_images_per_s << '\n';
}

// muse-bench's result shape: x = the trace's peak rate, one line per policy.
nlohmann::json plot_point(const std::string& policy, const trace& load, const sim_result& r) {
  // Throughput: the requests answered (not dropped) per second of the trace.
  const double per_s = (r.requests - r.timed_out) / load.duration_s;
  return {
      {"settings",
       {{"mode", "open"}, {"rate", load.peak_per_s}, {"label", policy}, {"api", "sim"}}},
      {"throughput", {{"requests_per_s", per_s}, {"images_per_s", per_s}}},
      {"latency_ms", {{"p50", r.p50_s * 1000}, {"p95", r.p95_s * 1000}, {"p99", r.p99_s * 1000}}},
      {"requests", {{"ok", r.requests - r.timed_out}, {"failed", r.timed_out}}}};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> traces = trace::names();
  std::vector<std::string> policies = {"seed", "queue_threshold", "capacity", "full_batch",
                                       "oracle"};
  std::vector<int> scales = {10, 100, 1000};
  double peak_share = 0.75;
  double day_s = 86400;
  std::string out_dir;
  sim_settings base;
  std::map<std::string, std::string> options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      usage("the scaling policies against arrival traces");
      return 0;
    }
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc) return usage(("bad argument " + arg).c_str());
    options[arg.substr(2)] = argv[++i];
  }
  try {
    for (auto& [key, value] : options) {
      if (key == "traces")
        traces = split(value);
      else if (key == "policies")
        policies = split(value);
      else if (key == "gpus") {
        scales.clear();
        for (auto& s : split(value)) scales.push_back(std::stoi(s));
      } else if (key == "peak-share")
        peak_share = std::stod(value);
      else if (key == "day-s")
        day_s = std::stod(value);
      else if (key == "interval-s")
        base.autoscale.interval_s = std::stoi(value);
      else if (key == "scale-up-check-s")
        base.autoscale.scale_up_check_s = std::stoi(value);
      else if (key == "startup-s")
        base.startup_s = std::stod(value);
      else if (key == "failures-per-hour")
        base.failures_per_hour = std::stod(value);
      else if (key == "repair-s")
        base.repair_s = std::stod(value);
      else if (key == "gpus-per-node")
        base.gpus_per_node = std::stoi(value);
      else if (key == "max-batch")
        base.max_batch_size = std::stoi(value);
      else if (key == "oracle-beta")
        base.oracle_beta = std::stod(value);
      else if (key == "seed")
        base.seed = std::stoull(value);
      else if (key == "out")
        out_dir = value;
      else
        return usage(("unknown option --" + key).c_str());
    }
  } catch (const std::exception&) {
    return usage("a number was expected");
  }
  std::ofstream jsonl;
  if (!out_dir.empty()) {
    std::filesystem::create_directories(std::filesystem::path(out_dir) / "ticks");
    jsonl.open(std::filesystem::path(out_dir) / "results.jsonl");
  }
  std::printf(
      "| trace | GPUs | peak req/s | policy | within SLO | p95 s | p99 s | timed out | GPU-h | x "
      "oracle | most workers |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  try {
    for (auto& name : traces)
      for (int gpus : scales) {
        auto settings = base;
        settings.gpus = gpus;
        const double peak =
            peak_share * gpus * settings.service.images_per_s(settings.max_batch_size);
        const auto load = trace::make(name, peak, day_s);
        settings.policy = "oracle";
        const double oracle_hours = muse::sim::simulate(load, settings).gpu_hours;
        for (auto& policy : policies) {
          settings.policy = policy;
          const auto r = muse::sim::simulate(load, settings);
          const double ratio = oracle_hours > 0 ? r.gpu_hours / oracle_hours : 0;
          std::printf("| %s | %d | %.0f | %s | %.2f%% | %.2f | %.2f | %llu | %.1f | %.2f | %d |\n",
                      name.c_str(), gpus, peak, policy.c_str(), 100 * r.slo_share(), r.p95_s,
                      r.p99_s, static_cast<unsigned long long>(r.timed_out), r.gpu_hours, ratio,
                      r.most_workers);
          std::fflush(stdout);
          if (out_dir.empty()) continue;
          nlohmann::json row = {{"trace", name},
                                {"gpus", gpus},
                                {"peak_per_s", peak},
                                {"duration_s", load.duration_s},
                                {"policy", policy},
                                {"seed", settings.seed},
                                {"requests", r.requests},
                                {"within_slo", r.within_slo},
                                {"slo_share", r.slo_share()},
                                {"timed_out", r.timed_out},
                                {"p50_s", r.p50_s},
                                {"p95_s", r.p95_s},
                                {"p99_s", r.p99_s},
                                {"gpu_hours", r.gpu_hours},
                                {"oracle_gpu_hours", oracle_hours},
                                {"gpu_hours_x_oracle", ratio},
                                {"most_workers", r.most_workers},
                                {"failures", r.failures}};
          jsonl << row.dump() << '\n';
          const auto stem = name + "-" + std::to_string(gpus) + "-" + policy;
          write_ticks(std::filesystem::path(out_dir) / "ticks" / (stem + ".csv"), r);
          const auto plot_dir = std::filesystem::path(out_dir) / "plot" / name;
          std::filesystem::create_directories(plot_dir);
          std::ofstream(plot_dir / (policy + "-" + std::to_string(gpus) + ".json"))
              << plot_point(policy, load, r).dump(2) << '\n';
        }
      }
  } catch (const std::exception& e) {
    std::cerr << "muse-sim: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
