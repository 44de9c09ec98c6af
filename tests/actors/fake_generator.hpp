#pragma once
// A deterministic stand-in for the diffusion model, so the actor tests isolate the actors: each
// step sleeps a few milliseconds and is logged (batch size and keys), and a finished image's
// pixels are a function of (seed, prompt, size), so a test can tell whose image it got.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "actors/messages.hpp"
#include "actors/model_worker.hpp"
#include "model/generator.hpp"

namespace muse::actors::testing {

struct fake_control {
  std::chrono::milliseconds step_time{5};
  std::chrono::milliseconds load_time{0};
  std::atomic<bool> fail_load{false};
  std::atomic<int> crashes_left{
      0};  // a step() that runs with this above 0 throws (the worker dies)
  std::atomic<int> loads{0};

  struct step_record {
    std::string worker;
    std::string model;  // the worker's (worker_options::model_name)
    size_t size = 0;
    std::set<std::string> keys;
  };
  std::mutex mutex;
  std::vector<step_record> steps;
  std::map<std::string, int> loads_by_model;  // generators made, by worker_options::model_name

  int loads_of(const std::string& model) {
    std::lock_guard<std::mutex> lock(mutex);
    return loads_by_model[model];
  }

  std::vector<step_record> steps_copy() {
    std::lock_guard<std::mutex> lock(mutex);
    return steps;
  }
  size_t max_step_size() {
    size_t most = 0;
    for (auto& s : steps_copy()) most = std::max(most, s.size);
    return most;
  }
};

inline model::rgb_image expected_image(const model::sample_request& request) {
  model::rgb_image image;
  image.width = request.width;
  image.height = request.height;
  image.pixels.resize(static_cast<size_t>(request.width * request.height * 3));
  auto base = static_cast<uint8_t>(request.seed * 31 + std::hash<std::string>{}(request.prompt));
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(base + i);
  return image;
}

class fake_running_batch : public model::running_batch {
 public:
  fake_running_batch(std::shared_ptr<fake_control> control, std::string worker, std::string model)
      : control_(std::move(control)), worker_(std::move(worker)), model_(std::move(model)) {}

  void add(uint64_t tag, const model::sample_request& request) override {
    if (request.prompt == "invalid") throw model::model_error("prompt: the fake refuses 'invalid'");
    samples_[tag] = entry{request, 0};
  }
  void remove(uint64_t tag) override { samples_.erase(tag); }
  size_t size() const override { return samples_.size(); }

  std::vector<model::step_report> step() override {
    std::this_thread::sleep_for(control_->step_time);
    {
      std::lock_guard<std::mutex> lock(control_->mutex);
      fake_control::step_record record{worker_, model_, samples_.size(), {}};
      for (auto& [tag, e] : samples_)
        record.keys.insert(to_string(batch_key_of(model_, e.request)));
      control_->steps.push_back(record);
    }
    int left = control_->crashes_left.load();
    while (left > 0 && !control_->crashes_left.compare_exchange_weak(left, left - 1)) {
    }
    if (left > 0) throw std::runtime_error("fake crash");
    std::vector<model::step_report> reports;
    for (auto it = samples_.begin(); it != samples_.end();) {
      auto& e = it->second;
      ++e.step;
      model::step_report report;
      report.tag = it->first;
      report.step = e.step;
      report.total_steps = e.request.steps;
      report.finished = e.step >= e.request.steps;
      if (report.finished) report.image = expected_image(e.request);
      // A preview: 2x2, every byte the step it came on.
      if (!report.finished && e.request.preview_every > 0 && e.step % e.request.preview_every == 0)
        report.preview = model::rgb_image{2, 2, std::vector<uint8_t>(12, uint8_t(e.step))};
      reports.push_back(std::move(report));
      it = report.finished ? samples_.erase(it) : std::next(it);
    }
    return reports;
  }

 private:
  struct entry {
    model::sample_request request;
    int step = 0;
  };
  std::shared_ptr<fake_control> control_;
  std::string worker_;
  std::string model_;
  std::map<uint64_t, entry> samples_;
};

class fake_generator : public model::generator {
 public:
  fake_generator(std::shared_ptr<fake_control> control, std::string worker, std::string model)
      : control_(std::move(control)), worker_(std::move(worker)), model_(std::move(model)) {}
  std::string name() const override { return "fake"; }
  model::model_limits limits() const override {
    model::model_limits l;
    l.min_size = 8;
    l.max_size = 64;
    l.size_multiple = 8;
    l.schedulers = {"ddim", "euler"};
    return l;
  }
  std::unique_ptr<model::running_batch> start_batch() override {
    return std::make_unique<fake_running_batch>(control_, worker_, model_);
  }

 private:
  std::shared_ptr<fake_control> control_;
  std::string worker_;
  std::string model_;
};

inline generator_factory fake_factory(std::shared_ptr<fake_control> control) {
  return [control](const worker_options& options) -> std::unique_ptr<model::generator> {
    ++control->loads;
    std::this_thread::sleep_for(control->load_time);
    if (control->fail_load) throw model::model_error("fake: no such model");
    {
      std::lock_guard<std::mutex> lock(control->mutex);
      ++control->loads_by_model[options.model_name];
    }
    return std::make_unique<fake_generator>(control, options.id, options.model_name);
  };
}

}  // namespace muse::actors::testing
