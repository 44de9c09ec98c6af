#include "http/png_parameters.hpp"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

#include "http/a1111_request.hpp"

namespace muse::http {
namespace {

void put_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char((value >> shift) & 0xff));
}

uint32_t get_u32(const std::string& data, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | uint8_t(data[at + i]);
  return value;
}

std::string chunk(const std::string& type, const std::string& data) {
  std::string out;
  put_u32(out, uint32_t(data.size()));
  const std::string body = type + data;
  out += body;
  put_u32(out, uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
  return out;
}

bool ascii(const std::string& text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// A number as A1111 writes it there: 7 -> "7", 7.5 -> "7.5", without a float's noise.
std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", std::round(value * 1e6) / 1e6);
  return text;
}

}  // namespace

std::string png_parameters(const actors::sample_request& sample, const std::string& model_name) {
  std::string text = sample.prompt;
  if (!sample.negative_prompt.empty()) text += "\nNegative prompt: " + sample.negative_prompt;
  text += "\nSteps: " + std::to_string(sample.steps) +
          ", Sampler: " + a1111_sampler_name(sample.scheduler) +
          ", CFG scale: " + number_text(sample.guidance_scale) +
          ", Seed: " + std::to_string(sample.seed) + ", Size: " + std::to_string(sample.width) +
          "x" + std::to_string(sample.height) + ", Model: " + model_name;
  if (sample.init_image.width > 0) text += ", Denoising strength: " + number_text(sample.strength);
  return text;
}

std::string with_png_text(const std::string& png, const std::string& keyword,
                          const std::string& text) {
  static const std::string signature = "\x89PNG\r\n\x1a\n";
  // The signature, then IHDR: length 13, type, 13 bytes, CRC.
  const size_t ihdr_end = signature.size() + 4 + 4 + 13 + 4;
  if (png.size() < ihdr_end || png.compare(0, signature.size(), signature) != 0 ||
      get_u32(png, signature.size()) != 13 || png.compare(signature.size() + 4, 4, "IHDR") != 0)
    throw std::invalid_argument("not a PNG: no signature and IHDR chunk");
  if (keyword.empty() || keyword.size() > 79 || !ascii(keyword))
    throw std::invalid_argument("a PNG text keyword is 1 to 79 Latin-1 characters");
  const std::string text_chunk =
      ascii(text) ? chunk("tEXt", keyword + '\0' + text)
                  // iTXt: keyword, compression flag and method (none), language tag and
                  // translated keyword (both empty), the UTF-8 text.
                  : chunk("iTXt", keyword + '\0' + '\0' + '\0' + '\0' + '\0' + text);
  return png.substr(0, ihdr_end) + text_chunk + png.substr(ihdr_end);
}

}  // namespace muse::http
