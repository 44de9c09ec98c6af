#pragma once
// Generation parameters written into the PNGs the gateway answers with, in the form
// AUTOMATIC1111 writes and reads them: a "parameters" text chunk holding
//   <prompt>
//   Negative prompt: <negative prompt>
//   Steps: 25, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: muse-tiny
// (plus "Denoising strength: 0.8" for image to image). Tools that read A1111's PNG info (its own
// "PNG Info" tab, ComfyUI, image viewers) show them; `gateway.png_parameters` turns it off.

#include <string>

#include "actors/order.hpp"

namespace muse::http {

// The "parameters" text of one validated sample (its scheduler named); `model_name` as
// the config names it (its `name`, else derived from its path). Also the `infotexts` of A1111's API
// answers.
std::string png_parameters(const actors::sample_request& sample, const std::string& model_name);

// `png` with a text chunk under `keyword` (1..79 Latin-1 characters) put right after its header:
// tEXt when the text is ASCII, else iTXt holding it as UTF-8 (PNG's tEXt is Latin-1). Throws
// std::invalid_argument for data that does not start with a PNG signature and IHDR chunk.
std::string with_png_text(const std::string& png, const std::string& keyword,
                          const std::string& text);

}  // namespace muse::http
