// The built-in model (model/weights/muse-tiny) draws what it is asked for: for each of the fixed
// prompts in tests/data/emoji/quality_prompts.txt (emoji names from its training set) the
// generated image's nearest neighbour among the training images, by the 8x8 feature below,
// must be an image of the prompted emoji for at least half of them (chance: about 1 in 1,900),
// and no output may be blank, noise or the same picture for every prompt.
//
// The feature is the one tools/train/prepare_data.py wrote to tests/data/emoji/features.bin:
// the mean of each 8x8 pixel block per channel of the 64x64 RGB image, rounded to uint8, in
// (block row, block column, channel) order; 192 bytes per image, compared by squared distance.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "model/generator.hpp"

using namespace muse::model;

namespace {

constexpr int image_size = 64;
constexpr int grid = 8;
constexpr size_t feature_bytes = grid * grid * 3;
constexpr size_t batch_size = 8;

const std::string data_dir = std::string(MUSE_TEST_DATA_DIR) + "/emoji";
const std::string model_dir = std::string(MUSE_TEST_DATA_DIR) + "/../../model/weights/muse-tiny";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> read_prompts() {
  std::istringstream lines(read_file(data_dir + "/quality_prompts.txt"));
  std::vector<std::string> prompts;
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) prompts.push_back(line);
  return prompts;
}

std::vector<uint8_t> feature_of(const rgb_image& image) {
  const int block = image_size / grid;
  std::vector<uint8_t> feature(feature_bytes);
  for (int by = 0; by < grid; ++by)
    for (int bx = 0; bx < grid; ++bx)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int y = by * block; y < (by + 1) * block; ++y)
          for (int x = bx * block; x < (bx + 1) * block; ++x)
            sum += image.pixels[(static_cast<size_t>(y) * image_size + x) * 3 + c];
        const double mean = static_cast<double>(sum) / (block * block);
        feature[(by * grid + bx) * 3 + c] = static_cast<uint8_t>(std::floor(mean + 0.5));
      }
  return feature;
}

double pixel_std(const rgb_image& image) {
  double sum = 0, squares = 0;
  for (uint8_t v : image.pixels) {
    sum += v;
    squares += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(image.pixels.size());
  return std::sqrt(std::max(0.0, squares / n - (sum / n) * (sum / n)));
}

// Mean absolute difference of horizontally adjacent pixels: emoji on white stay under ~32
// (the training set's largest is 31.6); uniform noise is about 85.
double roughness(const rgb_image& image) {
  double total = 0;
  for (int y = 0; y < image_size; ++y)
    for (int x = 1; x < image_size; ++x)
      for (int c = 0; c < 3; ++c) {
        const size_t at = (static_cast<size_t>(y) * image_size + x) * 3 + c;
        total +=
            std::abs(static_cast<int>(image.pixels[at]) - static_cast<int>(image.pixels[at - 3]));
      }
  return total / (image_size * (image_size - 1) * 3.0);
}

}  // namespace

TEST_CASE("the built-in model draws the emoji it is asked for", "[model][builtin]") {
  const auto prompts = read_prompts();
  REQUIRE(prompts.size() >= 40);

  const auto labels = nlohmann::json::parse(read_file(data_dir + "/labels.json"));
  const auto names = labels.at("names").get<std::vector<std::string>>();
  const auto item_of_image = labels.at("item").get<std::vector<int>>();
  const std::string features = read_file(data_dir + "/features.bin");
  REQUIRE(features.size() == item_of_image.size() * feature_bytes);

  std::vector<int> prompted_item;
  for (const auto& prompt : prompts) {
    const auto found = std::find(names.begin(), names.end(), prompt);
    INFO("prompt: " << prompt);
    REQUIRE(found != names.end());
    prompted_item.push_back(static_cast<int>(found - names.begin()));
  }
  REQUIRE(std::set<int>(prompted_item.begin(), prompted_item.end()).size() == prompts.size());

  generator_options options;
  options.path = model_dir;
  options.scheduler = "ddim";
  const auto gen = load_generator(options);

  std::vector<rgb_image> images;
  for (size_t first = 0; first < prompts.size(); first += batch_size) {
    std::vector<sample_request> batch;
    for (size_t i = first; i < std::min(prompts.size(), first + batch_size); ++i) {
      sample_request request;
      request.prompt = prompts[i];
      request.steps = 25;
      request.guidance_scale = 7.5f;
      request.seed = static_cast<uint64_t>(prompted_item[i]);  // as in the training preview
      batch.push_back(request);
    }
    for (auto& image : gen->generate(batch)) images.push_back(std::move(image));
  }
  REQUIRE(images.size() == prompts.size());

  size_t hits = 0;
  std::set<int> neighbours;
  for (size_t i = 0; i < images.size(); ++i) {
    INFO("prompt: " << prompts[i]);
    REQUIRE(images[i].width == image_size);
    REQUIRE(images[i].height == image_size);
    REQUIRE(images[i].pixels.size() == static_cast<size_t>(image_size * image_size * 3));
    const double spread = pixel_std(images[i]);
    CHECK(spread > 10.0);  // not blank
    CHECK(spread < 125.0);
    CHECK(roughness(images[i]) < 40.0);  // not noise

    const auto feature = feature_of(images[i]);
    long best = std::numeric_limits<long>::max();
    size_t best_image = 0;
    for (size_t j = 0; j < item_of_image.size(); ++j) {
      long distance = 0;
      for (size_t k = 0; k < feature_bytes; ++k) {
        const long d =
            static_cast<long>(feature[k]) - static_cast<uint8_t>(features[j * feature_bytes + k]);
        distance += d * d;
      }
      if (distance < best) {
        best = distance;
        best_image = j;
      }
    }
    const int neighbour = item_of_image[best_image];
    neighbours.insert(neighbour);
    if (neighbour == prompted_item[i]) ++hits;
  }
  INFO(hits << " of " << prompts.size() << " prompts drew their emoji; " << neighbours.size()
            << " distinct nearest neighbours");
  CHECK(neighbours.size() * 2 >= prompts.size());  // not one picture for every prompt
  CHECK(hits * 2 >= prompts.size());
}
