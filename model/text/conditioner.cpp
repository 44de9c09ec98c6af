#include "model/text/conditioner.hpp"

#include <map>
#include <utility>

#include "model/formats/model_dir.hpp"
#include "model/generator.hpp"

namespace muse::model {

conditioning conditioning::narrow(int64_t start, int64_t length) const {
  conditioning part;
  if (context.defined()) part.context = context.narrow(0, start, length);
  if (pooled.defined()) part.pooled = pooled.narrow(0, start, length);
  if (time_ids.defined()) part.time_ids = time_ids.narrow(0, start, length);
  return part;
}

conditioning conditioning::cat(const std::vector<conditioning>& parts) {
  conditioning whole;
  if (parts.empty()) return whole;
  const auto join = [&](torch::Tensor conditioning::*member, const char* name) {
    std::vector<torch::Tensor> rows;
    for (const auto& part : parts) {
      if ((part.*member).defined() != (parts.front().*member).defined())
        throw model_error(std::string("conditioning rows differ in having ") + name);
      if ((part.*member).defined()) rows.push_back(part.*member);
    }
    if (!rows.empty()) whole.*member = torch::cat(rows);
  };
  join(&conditioning::context, "a context");
  join(&conditioning::pooled, "pooled text embeddings");
  join(&conditioning::time_ids, "time ids");
  return whole;
}

size_conditioning size_conditioning::of_image(int height, int width) {
  size_conditioning s;
  s.original_height = s.target_height = height;
  s.original_width = s.target_width = width;
  return s;
}

torch::Tensor make_time_ids(const std::vector<size_conditioning>& sizes) {
  std::vector<float> values;
  for (const auto& s : sizes)
    for (int v : {s.original_height, s.original_width, s.crop_top, s.crop_left, s.target_height,
                  s.target_width})
      values.push_back(static_cast<float>(v));
  return torch::tensor(values, torch::kFloat32).view({static_cast<int64_t>(sizes.size()), 6});
}

namespace {

void check_part(const text_encoder_part& part, const std::string& name) {
  if (!part.tokenizer || part.encoder.is_empty())
    throw model_error(name + ": no tokenizer or encoder");
  if (part.tokenizer->max_length() > part.encoder->config().max_position_embeddings)
    throw model_error(name + ": tokenizer max length exceeds max_position_embeddings");
}

}  // namespace

conditioner::conditioner(text_encoder_part first) : first_(std::move(first)) {
  check_part(first_, "text_encoder");
}

conditioner::conditioner(text_encoder_part first, text_encoder_part second,
                         bool zero_empty_negative)
    : first_(std::move(first)),
      second_(std::move(second)),
      zero_empty_negative_(zero_empty_negative) {
  check_part(first_, "text_encoder");
  check_part(second_, "text_encoder_2");
  if (!second_.encoder->config().with_projection)
    throw model_error(
        "text_encoder_2 must be a CLIPTextModelWithProjection: its projected pooled output "
        "conditions the SDXL UNet");
  if (first_.tokenizer->max_length() != second_.tokenizer->max_length())
    throw model_error("tokenizer and tokenizer_2 have different max lengths");
}

int64_t conditioner::context_dim() const {
  return first_.encoder->config().hidden_size +
         (dual() ? second_.encoder->config().hidden_size : 0);
}

int64_t conditioner::pooled_dim() const {
  return dual() ? second_.encoder->config().projection_dim : 0;
}

std::vector<text_encoder> conditioner::encoders() const {
  std::vector<text_encoder> out{first_.encoder};
  if (dual()) out.push_back(second_.encoder);
  return out;
}

conditioning conditioner::encode(const std::vector<text_prompt>& prompts) {
  torch::NoGradGuard no_grad;
  conditioning out;
  if (prompts.empty()) return out;
  const auto device = first_.encoder->parameters().front().device();
  const auto dtype = first_.encoder->parameters().front().scalar_type();
  const int64_t length = max_length();

  // Distinct (text, text_2) pairs are encoded once; a zeroed row points past them, at a row of
  // zeros appended below.
  std::vector<std::pair<std::string, std::string>> distinct;
  std::map<std::pair<std::string, std::string>, int64_t> row_of_text;
  std::vector<int64_t> row_of_prompt;
  bool any_zero = false;
  for (const auto& p : prompts) {
    if (dual() && zero_empty_negative_ && p.negative && p.text.empty()) {
      row_of_prompt.push_back(-1);
      any_zero = true;
      continue;
    }
    std::pair<std::string, std::string> key{p.text,
                                            dual() && !p.text_2.empty() ? p.text_2 : p.text};
    auto [it, added] = row_of_text.emplace(key, static_cast<int64_t>(distinct.size()));
    if (added) distinct.push_back(key);
    row_of_prompt.push_back(it->second);
  }
  for (auto& row : row_of_prompt)
    if (row < 0) row = static_cast<int64_t>(distinct.size());

  auto ids_of = [&](const clip_tokenizer& tokenizer, bool second) {
    std::vector<int64_t> ids;
    for (const auto& [text, text_2] : distinct) {
      auto encoded = tokenizer.encode(second ? text_2 : text);
      ids.insert(ids.end(), encoded.begin(), encoded.end());
    }
    return torch::tensor(ids, torch::kLong)
        .view({static_cast<int64_t>(distinct.size()), length})
        .to(device);
  };

  torch::Tensor context, pooled;
  if (!distinct.empty()) {
    if (!dual()) {
      context = first_.encoder->encode(ids_of(*first_.tokenizer, false), last_hidden_output)
                    .last_hidden_state;
    } else {
      auto a = first_.encoder->encode(ids_of(*first_.tokenizer, false), penultimate_output);
      auto b = second_.encoder->encode(ids_of(*second_.tokenizer, true),
                                       penultimate_output | pooled_output);
      context = torch::cat({a.penultimate, b.penultimate}, -1);
      pooled = b.text_embeds;
    }
  }
  if (any_zero) {
    auto zero_context = torch::zeros({1, length, context_dim()},
                                     torch::TensorOptions().dtype(dtype).device(device));
    context = context.defined() ? torch::cat({context, zero_context}) : zero_context;
    auto zero_pooled =
        torch::zeros({1, pooled_dim()}, torch::TensorOptions().dtype(dtype).device(device));
    pooled =
        pooled.defined() ? torch::cat({pooled, zero_pooled.to(pooled.scalar_type())}) : zero_pooled;
  }
  const auto rows = static_cast<int64_t>(row_of_prompt.size());
  const bool identity = rows == context.size(0) && !any_zero;
  auto index = torch::tensor(row_of_prompt, torch::kLong).to(device);
  out.context = identity ? context : context.index_select(0, index);
  if (dual()) {
    out.pooled = identity ? pooled : pooled.index_select(0, index);
    std::vector<size_conditioning> sizes;
    for (const auto& p : prompts) {
      if (p.size.target_height <= 0 || p.size.target_width <= 0 || p.size.original_height <= 0 ||
          p.size.original_width <= 0)
        throw model_error("SDXL conditioning needs each prompt's original and target size");
      sizes.push_back(p.size);
    }
    // diffusers builds them in the prompt embeddings' dtype.
    out.time_ids = make_time_ids(sizes).to(device, out.context.scalar_type());
  }
  return out;
}

namespace {

// A component is present when model_index.json names it with a non-null library and class.
bool has_component(const nlohmann::json& index, const std::string& name) {
  if (!index.contains(name)) return false;
  const auto& entry = index.at(name);
  return entry.is_array() && entry.size() == 2 && !entry[0].is_null() && !entry[1].is_null();
}

text_encoder_part load_part(const std::string& dir, const std::string& tokenizer_name,
                            const std::string& encoder_name, const weight_map* weights,
                            torch::Device device, torch::Dtype dtype) {
  text_encoder_part part;
  part.tokenizer =
      std::make_unique<clip_tokenizer>(clip_tokenizer::load(dir + "/" + tokenizer_name));
  const auto encoder_dir = dir + "/" + encoder_name;
  part.encoder = weights ? load_text_encoder(read_json_file(encoder_dir + "/config.json"), *weights,
                                             device, dtype)
                         : load_text_encoder(encoder_dir, device, dtype);
  return part;
}

std::unique_ptr<conditioner> load(const std::string& dir, const weight_map* first_weights,
                                  const weight_map* second_weights, bool given,
                                  torch::Device device, torch::Dtype dtype) {
  const auto index = read_json_file(dir + "/model_index.json");
  const bool second = has_component(index, "text_encoder_2");
  if (!has_component(index, "text_encoder"))
    throw model_error(dir + ": " +
                      (second ? "only text_encoder_2 (an SDXL refiner) is not supported"
                              : "model_index.json names no text_encoder"));
  if (second != has_component(index, "tokenizer_2"))
    throw model_error(dir + ": text_encoder_2 and tokenizer_2 come together");
  if (given && second && !second_weights)
    throw model_error(dir + ": an SDXL model needs text_encoder_2's weights");
  auto first = load_part(dir, "tokenizer", "text_encoder", first_weights, device, dtype);
  if (!second) return std::make_unique<conditioner>(std::move(first));
  auto other = load_part(dir, "tokenizer_2", "text_encoder_2", second_weights, device, dtype);
  const bool zero = json_bool(index, "force_zeros_for_empty_prompt", true);
  return std::make_unique<conditioner>(std::move(first), std::move(other), zero);
}

}  // namespace

std::unique_ptr<conditioner> load_conditioner(const std::string& dir, torch::Device device,
                                              torch::Dtype dtype) {
  return load(dir, nullptr, nullptr, false, device, dtype);
}

std::unique_ptr<conditioner> load_conditioner(const std::string& dir,
                                              const weight_map& text_encoder_weights,
                                              const weight_map* text_encoder_2_weights,
                                              torch::Device device, torch::Dtype dtype) {
  return load(dir, &text_encoder_weights, text_encoder_2_weights, true, device, dtype);
}

}  // namespace muse::model
