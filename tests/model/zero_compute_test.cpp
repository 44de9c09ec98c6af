// The benchmark-only stage: same contract as the pipeline, no work.
#include <catch2/catch.hpp>

#include "model/generator.hpp"

using namespace muse::model;

TEST_CASE("the zero-compute stage answers every sample at its first step", "[zero_compute]") {
  generator_options options;
  options.type = "benchmark_zero_compute";
  auto generator = load_generator(options);
  CHECK(generator->name() == "benchmark-zero-compute");

  auto batch = generator->start_batch();
  sample_request wide;
  wide.width = 96;
  wide.height = 32;
  wide.steps = 25;
  batch->add(1, wide);
  batch->add(2, sample_request{});
  batch->add(3, sample_request{});
  batch->remove(3);
  REQUIRE(batch->size() == 2);

  auto reports = batch->step();
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].tag == 1);
  CHECK(reports[0].finished);
  CHECK(reports[0].step == 25);
  CHECK(reports[0].image.width == 96);
  CHECK(reports[0].image.pixels.size() == 96u * 32u * 3u);
  CHECK(reports[1].tag == 2);
  CHECK(batch->size() == 0);
  CHECK(batch->step().empty());
}

TEST_CASE("the zero-compute stage validates like a model", "[zero_compute]") {
  auto batch = make_zero_compute_generator()->start_batch();
  sample_request odd;
  odd.width = 30;
  CHECK_THROWS_AS(batch->add(1, odd), model_error);
  sample_request long_run;
  long_run.steps = 151;
  CHECK_THROWS_AS(batch->add(2, long_run), model_error);

  generator_options unknown;
  unknown.type = "gan";
  CHECK_THROWS_AS(load_generator(unknown), model_error);
}
