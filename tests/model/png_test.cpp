#include <png.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "model/generator.hpp"

using namespace muse::model;

namespace {

struct reader_state {
  const std::string* data;
  size_t offset = 0;
};

void read_bytes(png_structp png, png_bytep out, png_size_t length) {
  auto* state = static_cast<reader_state*>(png_get_io_ptr(png));
  if (state->offset + length > state->data->size()) png_error(png, "read past the end");
  std::memcpy(out, state->data->data() + state->offset, length);
  state->offset += length;
}

rgb_image decode(const std::string& bytes) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  reader_state state{&bytes};
  rgb_image image;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw std::runtime_error("decode failed");
  }
  png_set_read_fn(png, &state, read_bytes);
  png_read_info(png, info);
  image.width = static_cast<int>(png_get_image_width(png, info));
  image.height = static_cast<int>(png_get_image_height(png, info));
  REQUIRE(png_get_color_type(png, info) == PNG_COLOR_TYPE_RGB);
  REQUIRE(png_get_bit_depth(png, info) == 8);
  image.pixels.resize(static_cast<size_t>(image.width) * image.height * 3);
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  for (int y = 0; y < image.height; ++y)
    rows[static_cast<size_t>(y)] = image.pixels.data() + y * image.width * 3;
  png_read_image(png, rows.data());
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

}  // namespace

TEST_CASE("encode_png round-trips through libpng's decoder") {
  rgb_image image;
  image.width = 13;
  image.height = 7;
  for (int i = 0; i < 13 * 7 * 3; ++i) image.pixels.push_back(static_cast<uint8_t>((i * 37) % 256));
  const auto bytes = encode_png(image);
  REQUIRE(bytes.size() > 8);
  CHECK(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  const auto back = decode(bytes);
  CHECK(back.width == 13);
  CHECK(back.height == 7);
  CHECK(back.pixels == image.pixels);
  // The previews' fast encoding holds the same pixels.
  const auto fast = encode_png(image, png_effort::fast);
  CHECK(fast != bytes);
  CHECK(decode(fast).pixels == image.pixels);
}

TEST_CASE("encode_png rejects empty and inconsistent images") {
  CHECK_THROWS_AS(encode_png(rgb_image{}), model_error);
  rgb_image short_buffer;
  short_buffer.width = 4;
  short_buffer.height = 4;
  short_buffer.pixels.resize(10);
  CHECK_THROWS_AS(encode_png(short_buffer), model_error);
}
