// The `generator` of a loaded pipeline: step-level running batches over pipeline's API.
#include <map>

#include "model/architecture.hpp"
#include "model/generator.hpp"
#include "model/pipeline.hpp"

namespace muse::model {

namespace {

// `samples` in runs whose call fits the pipeline's memory budget (memory_estimate.hpp), so a
// full batch of large pictures runs as several calls instead of exhausting the memory.
std::vector<std::vector<sample_state*>> runs_within_budget(
    const pipeline& p, const std::vector<sample_state*>& samples, bool decoding) {
  if (p.memory_budget() <= 0) return {samples};
  std::vector<sample_shape> shapes;
  for (const auto* s : samples)
    shapes.push_back({int64_t(s->width) * s->height, s->uses_guidance()});
  std::vector<std::vector<sample_state*>> runs;
  auto next = samples.begin();
  for (size_t size : memory_runs(p.memory_shape(), p.memory_budget(), shapes, decoding)) {
    runs.emplace_back(next, next + static_cast<std::ptrdiff_t>(size));
    next += static_cast<std::ptrdiff_t>(size);
  }
  return runs;
}

class pipeline_batch : public running_batch {
 public:
  explicit pipeline_batch(std::shared_ptr<pipeline> p) : pipeline_(std::move(p)) {}

  void add(uint64_t tag, const sample_request& request) override {
    if (samples_.count(tag))
      throw model_error("a sample with tag " + std::to_string(tag) + " is already running");
    auto started = pipeline_->start({request});
    samples_.emplace(tag, std::move(started.front()));
  }

  void remove(uint64_t tag) override { samples_.erase(tag); }

  size_t size() const override { return samples_.size(); }

  std::vector<step_report> step() override {
    std::vector<step_report> reports;
    if (samples_.empty()) return reports;
    std::vector<sample_state*> all;
    for (auto& [tag, sample] : samples_) all.push_back(&sample);
    for (const auto& run : runs_within_budget(*pipeline_, all, false)) pipeline_->step(run);
    std::vector<sample_state*> done;
    std::vector<uint64_t> done_tags;
    std::vector<sample_state*> previewed;
    std::vector<size_t> previewed_reports;
    for (auto& [tag, sample] : samples_) {
      step_report report;
      report.tag = tag;
      // Counted from where the sample began: an image-to-image run skips the schedule's start.
      const int begin = sample.schedule->begin_index();
      report.step = sample.schedule->step_index() - begin;
      report.total_steps = sample.schedule->num_steps() - begin;
      report.finished = sample.finished();
      if (report.finished) {
        done.push_back(&sample);
        done_tags.push_back(tag);
      } else if (sample.preview_every > 0 && report.step % sample.preview_every == 0) {
        previewed.push_back(&sample);
        previewed_reports.push_back(reports.size());
      }
      reports.push_back(std::move(report));
    }
    if (!previewed.empty()) {
      auto previews = pipeline_->preview(previewed);
      for (size_t k = 0; k < previews.size(); ++k)
        reports[previewed_reports[k]].preview = std::move(previews[k]);
    }
    if (!done.empty()) {
      std::vector<rgb_image> images;
      for (const auto& run : runs_within_budget(*pipeline_, done, true))
        for (auto& image : pipeline_->decode(run)) images.push_back(std::move(image));
      size_t k = 0;
      for (auto& report : reports)
        if (report.finished) report.image = std::move(images[k++]);
      for (auto tag : done_tags) samples_.erase(tag);
    }
    return reports;
  }

 private:
  std::shared_ptr<pipeline> pipeline_;
  std::map<uint64_t, sample_state> samples_;
};

class pipeline_generator : public generator {
 public:
  explicit pipeline_generator(std::shared_ptr<pipeline> p) : pipeline_(std::move(p)) {}
  std::string name() const override { return pipeline_->name(); }
  model_limits limits() const override { return pipeline_->limits(); }
  std::unique_ptr<running_batch> start_batch() override {
    return std::make_unique<pipeline_batch>(pipeline_);
  }

 private:
  std::shared_ptr<pipeline> pipeline_;
};

}  // namespace

std::unique_ptr<generator> load_generator(const generator_options& options) {
  if (options.type == "benchmark_zero_compute") return make_zero_compute_generator();
  if (options.type != "diffusion") throw model_error("unknown model type \"" + options.type + "\"");
  if (options.path.empty()) throw model_error("no model path given");
  set_cpu_threads(options.intra_op_threads);
  try {
    detect_model_architecture(options.path, options.config_dir);
    auto loaded = pipeline::load(options.path, options.device, options.dtype, options.scheduler,
                                 options.config_dir, options.cuda);
    if (!options.lora_dir.empty())
      loaded->set_lora_library(options.lora_dir, options.lora_cache_mb * 1024 * 1024);
    loaded->set_memory_budget(
        memory_budget_bytes(options.memory_budget_mb, loaded->memory(), options.workers_on_device));
    return std::make_unique<pipeline_generator>(std::move(loaded));
  } catch (const model_error&) {
    throw;
  } catch (const std::exception& e) {
    throw model_error(options.path + ": " + e.what());
  }
}

}  // namespace muse::model
