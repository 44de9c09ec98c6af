// Live previews: a running batch's samples that ask for them get a latent-size RGB picture on
// the steps they asked for, from every scheduler, without changing their images.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "model/generator.hpp"
#include "tests/support/reference.hpp"

using namespace muse::model;

namespace {

// tiny-sd's VAE halves the size once per block but the last: its latents' factor.
int latent_factor() {
  std::ifstream file(testing::data_dir() + "/tiny-sd/vae/config.json");
  const auto config = nlohmann::json::parse(file);
  return 1 << (config.at("block_out_channels").size() - 1);
}

std::unique_ptr<generator> tiny_sd() {
  generator_options options;
  options.path = testing::data_dir() + "/tiny-sd";
  options.scheduler = "ddim";
  return load_generator(options);
}

sample_request request(uint64_t seed, int steps, const std::string& scheduler, int preview_every) {
  sample_request r;
  r.prompt = "a red circle";
  r.seed = seed;
  r.steps = steps;
  r.width = 32;
  r.height = 24;
  r.scheduler = scheduler;
  r.preview_every = preview_every;
  return r;
}

struct run {
  std::map<uint64_t, std::vector<int>> previewed_steps;
  std::map<uint64_t, std::vector<rgb_image>> previews;
  std::map<uint64_t, rgb_image> images;
  std::map<uint64_t, int> totals;
};

// Multiples of `every` below `total`: the steps a preview is due (the last gives the image).
std::vector<int> due(int every, int total) {
  std::vector<int> steps;
  for (int step = every; step < total; step += every) steps.push_back(step);
  return steps;
}

// Steps the samples (tag = index) to their ends in one running batch.
run run_batch(generator& gen, const std::vector<sample_request>& requests) {
  run out;
  auto batch = gen.start_batch();
  for (size_t i = 0; i < requests.size(); ++i) batch->add(i, requests[i]);
  while (batch->size() > 0)
    for (auto& report : batch->step()) {
      if (report.preview.width > 0) {
        out.previewed_steps[report.tag].push_back(report.step);
        out.previews[report.tag].push_back(report.preview);
      }
      if (report.finished) out.images[report.tag] = report.image;
      out.totals[report.tag] = report.total_steps;
    }
  return out;
}

}  // namespace

TEST_CASE("previews come on the steps asked for, at the latent's size, from every scheduler",
          "[preview][pipeline]") {
  auto gen = tiny_sd();
  for (const auto& scheduler : gen->limits().schedulers) {
    INFO(scheduler);
    const auto with = run_batch(*gen, {request(5, 7, scheduler, 2), request(6, 7, scheduler, 0),
                                       request(7, 6, scheduler, 3)});
    // Every second step, every third (PNDM counts one call more); none on the last step, which
    // gives the image.
    CHECK(with.previewed_steps.at(0) == due(2, with.totals.at(0)));
    CHECK(with.previewed_steps.count(1) == 0);
    CHECK(with.previewed_steps.at(2) == due(3, with.totals.at(2)));
    CHECK(with.previewed_steps.at(2).size() >= 1);
    const int factor = latent_factor();
    for (const auto& preview : with.previews.at(0)) {
      CHECK(preview.width == 32 / factor);
      CHECK(preview.height == 24 / factor);
      CHECK(preview.pixels.size() == size_t(preview.width * preview.height * 3));
    }
    // The picture moves as the sample denoises.
    CHECK(with.previews.at(0).front().pixels != with.previews.at(0).back().pixels);

    // Asking for previews changes no image.
    const auto without = run_batch(*gen, {request(5, 7, scheduler, 0), request(6, 7, scheduler, 0),
                                          request(7, 6, scheduler, 0)});
    for (uint64_t tag : {0, 1, 2})
      CHECK(with.images.at(tag).pixels == without.images.at(tag).pixels);
  }
}
