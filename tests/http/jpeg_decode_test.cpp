// JPEG init images (http/jpeg_decode, libjpeg-turbo, through image_decode's signature check):
// colour, gray and progressive JPEGs decode to 8-bit RGB; CMYK, corrupt, truncated and oversized
// ones are refused with a reason.
#include "http/jpeg_decode.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>

#include "http/image_decode.hpp"
#include "tests/support/jpeg_builder.hpp"

using Catch::Matchers::Contains;
using muse::http::decode_image;
using muse::http::image_decode_error;
using muse::http::read_image_size;
using muse::testing::jpeg_spec;
using muse::testing::make_flat_jpeg;
using muse::testing::make_jpeg;

namespace {

// The why of the refusal, or "decoded".
std::string refusal(const std::string& bytes, int64_t max_pixels = 1 << 20) {
  try {
    decode_image(bytes, max_pixels);
    return "decoded";
  } catch (const image_decode_error& e) {
    return e.what();
  }
}

// Whether every pixel is within `tolerance` of (r, g, b): JPEG is lossy, flat colours nearly not.
bool all_near(const muse::actors::rgb_pixels& image, int r, int g, int b, int tolerance = 3) {
  for (size_t i = 0; i < image.pixels.size(); i += 3)
    if (std::abs(image.pixels[i] - r) > tolerance ||
        std::abs(image.pixels[i + 1] - g) > tolerance ||
        std::abs(image.pixels[i + 2] - b) > tolerance)
      return false;
  return true;
}

jpeg_spec halves(int components, int width, int height) {
  // Left half dark, right half light, in every component.
  jpeg_spec spec;
  spec.width = width;
  spec.height = height;
  spec.components = components;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < components; ++c) spec.samples.push_back(x < width / 2 ? 40 : 220);
  return spec;
}

}  // namespace

TEST_CASE("colour JPEGs decode to their colours, baseline or progressive", "[jpeg_decode]") {
  for (bool progressive : {false, true}) {
    const auto bytes = make_flat_jpeg(40, 24, 200, 100, 50, progressive);
    const auto header = muse::http::read_jpeg_header(bytes);
    CHECK(header.progressive == progressive);
    CHECK(header.components == 3);
    const auto size = read_image_size(bytes);
    CHECK(size.width == 40);
    CHECK(size.height == 24);
    const auto image = decode_image(bytes, 40 * 24);
    CHECK(image.width == 40);
    CHECK(image.height == 24);
    REQUIRE(image.pixels.size() == 40 * 24 * 3);
    CHECK(all_near(image, 200, 100, 50));
  }
}

TEST_CASE("gray JPEGs are repeated into R, G and B", "[jpeg_decode]") {
  auto spec = halves(1, 32, 16);
  for (bool progressive : {false, true}) {
    spec.progressive = progressive;
    const auto image = decode_image(make_jpeg(spec), 1 << 20);
    REQUIRE(image.pixels.size() == 32 * 16 * 3);
    // Away from the edge between the halves.
    const uint8_t* left = &image.pixels[(8 * 32 + 2) * 3];
    const uint8_t* right = &image.pixels[(8 * 32 + 29) * 3];
    CHECK(std::abs(left[0] - 40) <= 3);
    CHECK(left[0] == left[1]);
    CHECK(left[1] == left[2]);
    CHECK(std::abs(right[0] - 220) <= 3);
    CHECK(right[0] == right[2]);
  }
}

TEST_CASE("CMYK, corrupt, truncated and oversized JPEGs are refused with a reason",
          "[jpeg_decode]") {
  CHECK_THAT(refusal(make_jpeg(halves(4, 16, 16))),
             Contains("a CMYK JPEG") && Contains("convert it to RGB"));
  const auto good = make_flat_jpeg(32, 32, 10, 20, 30);
  CHECK(refusal(good) == "decoded");
  CHECK_THAT(refusal(good.substr(0, good.size() / 2)), Contains("not a valid JPEG image"));
  CHECK_THAT(refusal(good.substr(0, 40)), Contains("not a valid JPEG image"));
  CHECK_THAT(refusal("\xFF\xD8\xFF"), Contains("not a valid JPEG image"));
  // The pixel limit, checked from the header before any pixel is decoded.
  CHECK_THAT(refusal(good, 32 * 32 - 1), Contains("a JPEG of 32x32, over 1023 pixels"));
  // Neither signature.
  CHECK_THAT(refusal("GIF89a"), Contains("not a PNG or JPEG image"));
  CHECK_THAT(refusal(""), Contains("not a PNG or JPEG image"));
  // Corrupt entropy-coded data: libjpeg's warnings are refusals, not gray pixels.
  auto corrupt = good;
  const auto scan = corrupt.find("\xFF\xDA");
  REQUIRE(scan != std::string::npos);
  for (size_t i = scan + 20; i + 2 < corrupt.size(); i += 3) corrupt[i] = char(0xFF);
  CHECK_THAT(refusal(corrupt), Contains("not a valid JPEG image"));
}
