// The init-image PNG decoder: every colour type and bit depth a client may send, interlaced or
// not, to 8-bit RGB as PIL's convert("RGB") gives it; malformed files refused with a reason.
#include "http/png_decode.hpp"

#include <catch2/catch.hpp>

#include "tests/support/png_builder.hpp"

using muse::http::decode_png;
using muse::http::png_decode_error;
using muse::http::read_png_header;
using namespace muse::testing;

namespace {

constexpr int64_t any_size = int64_t(1) << 24;

// The expected RGB bytes of a width x height image from a per-pixel function.
std::vector<uint8_t> expected(int width, int height,
                              const std::function<std::vector<int>(int, int)>& rgb) {
  std::vector<uint8_t> out;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int v : rgb(x, y)) out.push_back(uint8_t(v));
  return out;
}

png_spec spec_of(int width, int height, int color_type, int bit_depth,
                 std::function<std::vector<int>(int, int)> pixel) {
  png_spec spec;
  spec.width = width;
  spec.height = height;
  spec.color_type = color_type;
  spec.bit_depth = bit_depth;
  spec.pixel = std::move(pixel);
  return spec;
}

std::string refusal(const std::string& bytes) {
  try {
    decode_png(bytes, any_size);
    return "decoded";
  } catch (const png_decode_error& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("RGB and RGBA PNGs decode to their colours; alpha is dropped", "[png_decode]") {
  auto rgb = [](int x, int y) { return std::vector<int>{x * 40, y * 50, (x * y * 7) % 256}; };
  for (bool interlaced : {false, true}) {
    INFO("interlaced " << interlaced);
    auto spec = spec_of(5, 4, 2, 8, rgb);
    spec.interlaced = interlaced;
    const auto bytes = make_png(spec);
    const auto header = read_png_header(bytes);
    CHECK(header.width == 5);
    CHECK(header.height == 4);
    CHECK(header.bit_depth == 8);
    CHECK(header.interlaced == interlaced);
    const auto image = decode_png(bytes, any_size);
    CHECK(image.width == 5);
    CHECK(image.height == 4);
    CHECK(image.pixels == expected(5, 4, rgb));

    // Transparent pixels keep their stored colour (PIL's convert("RGB") drops alpha alone).
    auto rgba = spec_of(5, 4, 6, 8, [&](int x, int y) {
      auto v = rgb(x, y);
      v.push_back(x == 0 ? 0 : 255);
      return v;
    });
    rgba.interlaced = interlaced;
    CHECK(decode_png(make_png(rgba), any_size).pixels == expected(5, 4, rgb));
  }
}

TEST_CASE("gray, gray + alpha and low bit depths expand to 8-bit RGB", "[png_decode]") {
  auto gray8 = [](int x, int y) { return std::vector<int>{(x * 31 + y * 17) % 256}; };
  auto as_rgb = [&](int x, int y) {
    const int g = gray8(x, y)[0];
    return std::vector<int>{g, g, g};
  };
  CHECK(decode_png(make_png(spec_of(6, 3, 0, 8, gray8)), any_size).pixels ==
        expected(6, 3, as_rgb));
  auto gray_alpha = spec_of(6, 3, 4, 8, [&](int x, int y) {
    return std::vector<int>{gray8(x, y)[0], 17};
  });
  gray_alpha.interlaced = true;
  CHECK(decode_png(make_png(gray_alpha), any_size).pixels == expected(6, 3, as_rgb));
  // 1, 2 and 4 bits scale to 0..255 as PIL reads them (0/255, x85, x17), rows padded to a byte.
  for (int depth : {1, 2, 4}) {
    INFO("bit depth " << depth);
    const int top = (1 << depth) - 1;
    auto low = [top](int x, int y) { return std::vector<int>{(x + y) % (top + 1)}; };
    auto scaled = [top, low](int x, int y) {
      const int v = low(x, y)[0] * 255 / top;
      return std::vector<int>{v, v, v};
    };
    CHECK(decode_png(make_png(spec_of(7, 3, 0, depth, low)), any_size).pixels ==
          expected(7, 3, scaled));
  }
}

TEST_CASE("palette PNGs look up their colours; tRNS is dropped", "[png_decode]") {
  const std::vector<std::vector<int>> palette = {
      {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  std::string plte;
  for (const auto& c : palette)
    for (int v : c) plte += char(v);
  for (int depth : {2, 8}) {
    INFO("bit depth " << depth);
    auto spec = spec_of(5, 3, 3, depth, [](int x, int y) { return std::vector<int>{(x + y) % 4}; });
    spec.extra_chunks = png_chunk("PLTE", plte) + png_chunk("tRNS", std::string("\x00\x80", 2));
    CHECK(decode_png(make_png(spec), any_size).pixels ==
          expected(5, 3, [&](int x, int y) { return palette[size_t((x + y) % 4)]; }));
  }
}

TEST_CASE("malformed, 16-bit and oversized PNGs are refused with a reason", "[png_decode]") {
  auto rgb = spec_of(4, 4, 2, 8, [](int x, int y) { return std::vector<int>{x, y, 0}; });
  const auto good = make_png(rgb);
  REQUIRE(refusal(good) == "decoded");

  CHECK_THAT(refusal(""), Catch::Contains("not a PNG"));
  CHECK_THAT(refusal("GIF89a........"), Catch::Contains("not a PNG"));
  CHECK_THAT(refusal(std::string("\xFF\xD8\xFF\xE0", 4) + std::string(40, '\0')),
             Catch::Contains("not a PNG"));
  // Cut anywhere: in the signature, the header, the data, before IEND.
  for (size_t cut : {size_t(4), size_t(20), size_t(40), good.size() - 20, good.size() - 1}) {
    INFO("cut at " << cut);
    CHECK_THAT(refusal(good.substr(0, cut)), Catch::Contains("PNG"));
  }
  // A flipped bit in the header chunk (its CRC no longer matches).
  auto flipped = good;
  flipped[18] = char(flipped[18] ^ 1);
  CHECK_THAT(refusal(flipped), Catch::Contains("not a valid PNG"));
  // Image data that is not a deflate stream.
  const auto header = png_signature() + png_header_chunk(rgb);
  CHECK_THAT(refusal(header + png_chunk("IDAT", "not deflate") + png_chunk("IEND", "")),
             Catch::Contains("not a valid PNG"));
  // Too little image data for the header's size.
  CHECK_THAT(refusal(header + png_chunk("IDAT", png_deflate(std::string(5, '\0'))) +
                     png_chunk("IEND", "")),
             Catch::Contains("not a valid PNG"));
  // No IDAT at all; a palette image without its palette.
  CHECK_THAT(refusal(header + png_chunk("IEND", "")), Catch::Contains("not a valid PNG"));
  auto no_palette = spec_of(2, 2, 3, 8, [](int, int) { return std::vector<int>{0}; });
  CHECK_THAT(refusal(make_png(no_palette)), Catch::Contains("not a valid PNG"));
  // An impossible header: zero width, an unknown colour type, a bit depth the type lacks.
  for (auto [width, type, depth] :
       {std::tuple{0, 2, 8}, std::tuple{4, 5, 8}, std::tuple{4, 2, 4}}) {
    auto bad = spec_of(width, 4, type, depth, [](int, int) { return std::vector<int>{0, 0, 0}; });
    CHECK_THAT(refusal(png_signature() + png_header_chunk(bad) + png_chunk("IEND", "")),
               Catch::Contains("not a valid PNG"));
  }

  auto deep = spec_of(3, 2, 2, 16, [](int x, int) { return std::vector<int>{x * 1000, 7, 65535}; });
  CHECK_THAT(refusal(make_png(deep)), Catch::Contains("16-bit"));
  CHECK(read_png_header(make_png(deep)).bit_depth == 16);

  CHECK_THAT(
      [&] {
        try {
          decode_png(good, 15);
          return std::string("decoded");
        } catch (const png_decode_error& e) {
          return std::string(e.what());
        }
      }(),
      Catch::Contains("over 15 pixels"));
  // A header claiming a huge picture is refused before its pixels are allocated.
  auto huge = spec_of(100000, 100000, 2, 8, [](int, int) { return std::vector<int>{0, 0, 0}; });
  CHECK_THAT(
      [&] {
        try {
          decode_png(png_signature() + png_header_chunk(huge) +
                         png_chunk("IDAT", png_deflate(std::string(100, '\0'))) +
                         png_chunk("IEND", ""),
                     any_size);
          return std::string("decoded");
        } catch (const png_decode_error& e) {
          return std::string(e.what());
        }
      }(),
      Catch::Contains("pixels"));
}
