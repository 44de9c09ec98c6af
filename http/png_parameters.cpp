#include "http/png_parameters.hpp"

#include <zlib.h>

#include <array>
#include <cstdint>
#include <sstream>
#include <stdexcept>

namespace muse::http {
namespace {

// Ours -> A1111's, as its sampler menu names them.
constexpr std::array<std::pair<const char*, const char*>, 6> a1111_names = {{
    {"ddim", "DDIM"},
    {"euler", "Euler"},
    {"euler_ancestral", "Euler a"},
    {"dpmpp_2m", "DPM++ 2M"},
    {"dpmpp_2m_karras", "DPM++ 2M Karras"},
    {"pndm", "PLMS"},
}};

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

// A1111 writes the CFG scale as Python prints the float: 7.0 -> "7.0", 7.5 -> "7.5".
std::string cfg_text(float scale) {
  std::ostringstream text;
  text << scale;
  std::string out = text.str();
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

}  // namespace

std::string a1111_sampler_name(const std::string& scheduler) {
  for (const auto& [ours, theirs] : a1111_names)
    if (scheduler == ours) return theirs;
  return scheduler;
}

std::string png_parameters(const actors::sample_request& sample, const std::string& scheduler,
                           const std::string& model_name) {
  std::string text = sample.prompt;
  if (!sample.negative_prompt.empty()) text += "\nNegative prompt: " + sample.negative_prompt;
  text += "\nSteps: " + std::to_string(sample.steps) +
          ", Sampler: " + a1111_sampler_name(scheduler) +
          ", CFG scale: " + cfg_text(sample.guidance_scale) +
          ", Seed: " + std::to_string(sample.seed) + ", Size: " + std::to_string(sample.width) +
          "x" + std::to_string(sample.height) + ", Model: " + model_name;
  if (sample.init_image.width > 0) {
    std::ostringstream strength;
    strength << sample.strength;
    text += ", Denoising strength: " + strength.str();
  }
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
