// A memory budget on the tiny pipeline: what does not fit is refused before any work, what is
// advertised fits, and a batch over the budget runs in several calls with the same images.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "model/generator.hpp"
#include "model/pipeline.hpp"
#include "tiny_pipeline.hpp"

using namespace muse::model;

namespace {

const std::string& budget_dir() {
  static const std::string dir =
      testing::write_tiny_pipeline("budget", {{"_class_name", "DDIMScheduler"}});
  static const bool cleanup_registered =
      std::atexit([] { testing::remove_tree(budget_dir()); }) == 0;
  (void)cleanup_registered;
  return dir;
}

sample_request square(int side, uint64_t seed) {
  sample_request r;
  r.prompt = "a cat";
  r.seed = seed;
  r.steps = 2;
  r.width = side;
  r.height = side;
  return r;
}

std::unique_ptr<generator> generator_with_budget(int64_t budget_mb) {
  generator_options options;
  options.path = budget_dir();
  options.memory_budget_mb = budget_mb;
  return load_generator(options);
}

}  // namespace

TEST_CASE("a memory budget limits the sizes, and every advertised size fits it", "[memory]") {
  auto pipe = pipeline::load(budget_dir(), "cpu", "float32", "ddim");
  const auto& architecture = pipe->memory_shape();
  CHECK(pipe->limits().max_pixels == int64_t(pipe->limits().max_size) * pipe->limits().max_size);
  const int64_t budget = sample_memory_bytes(architecture, 64, 64);
  REQUIRE(budget < sample_memory_bytes(architecture, 68, 68));
  pipe->set_memory_budget(budget);
  const auto limits = pipe->limits();
  CHECK(limits.max_pixels >= 64 * 64);
  CHECK(limits.max_pixels < 68 * 68);
  CHECK(sample_memory_bytes(architecture, limits.max_size, limits.min_size) <= budget);
  CHECK(int64_t(limits.max_size) * limits.min_size <= limits.max_pixels);
  CHECK(int64_t(limits.default_width) * limits.default_height <= limits.max_pixels);
  CHECK_NOTHROW(pipe->validate(square(64, 1)));
  CHECK_THROWS_WITH(pipe->validate(square(68, 1)),
                    Catch::Contains("width x height 68x68 needs ~") &&
                        Catch::Contains("memory budget") &&
                        Catch::Contains("the largest square: 64"));
  // Refused before any work: start() validates before encoding.
  CHECK_THROWS_AS(pipe->start({square(68, 1)}), model_error);
  // A budget that fits no image is an error at load.
  CHECK_THROWS_WITH(pipe->set_memory_budget(1), Catch::Contains("fits no image"));
}

TEST_CASE("a batch over the memory budget runs in several calls and gives the same images",
          "[memory]") {
  auto unlimited = generator_with_budget(int64_t(1) << 20);
  auto pipe = pipeline::load(budget_dir(), "cpu", "float32", "ddim");
  // 96x96: one sample fits 1 MB less than 4 times over, so four samples need several calls.
  const int64_t one_mb = bytes_to_mb(sample_memory_bytes(pipe->memory_shape(), 96, 96));
  const auto four = estimate_memory(pipe->memory_shape(), 96 * 96, 4, 8).peak_bytes();
  REQUIRE(four > (one_mb << 20));
  auto limited = generator_with_budget(one_mb);
  CHECK(limited->limits().memory_budget_mb == one_mb);
  const std::vector<sample_request> batch = {square(96, 1), square(96, 2), square(96, 3),
                                             square(96, 4)};
  const auto alone = unlimited->generate(batch);
  const auto split = limited->generate(batch);
  REQUIRE(split.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    REQUIRE(split[i].pixels.size() == alone[i].pixels.size());
    int worst = 0;
    for (size_t k = 0; k < split[i].pixels.size(); ++k)
      worst = std::max(worst, std::abs(int(split[i].pixels[k]) - int(alone[i].pixels[k])));
    CHECK(worst <= 1);
  }
}
