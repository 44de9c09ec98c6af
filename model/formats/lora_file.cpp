#include "model/formats/lora_file.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "model/generator.hpp"

namespace muse::model {

namespace {

bool starts_with(const std::string& s, const std::string& head) {
  return s.compare(0, head.size(), head) == 0;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The parts of one module's update as the file's keys give them.
struct pending_module {
  std::string component;
  std::string down_key, up_key;
  torch::Tensor down, up;
  std::optional<double> alpha;
};

class lora_reader {
 public:
  lora_reader(const lora_targets& targets, std::string name)
      : targets_(targets), name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& why) const {
    throw model_error("LoRA '" + name_ + "': " + why);
  }

  // The module `path` of `component`, or an error naming `key`.
  const lora_target_shape& target(const std::string& component, const std::string& path,
                                  const std::string& key) const {
    auto it = targets_.find(component);
    if (it == targets_.end())
      fail("key '" + key + "' is for " + component +
           ", which this model does not have (a LoRA for another base model?)");
    auto found = it->second.find(path);
    if (found == it->second.end())
      fail("key '" + key + "' matches no module of this model's " + component +
           " (a LoRA for another base model?)");
    return found->second;
  }

  pending_module& slot(const std::string& component, const std::string& path) {
    auto& p = pending_[{component, path}];
    p.component = component;
    return p;
  }

  // Checks shapes against the module and makes the typed update.
  lora_module finish(const std::string& component, const std::string& path, const pending_module& p,
                     double default_alpha) const {
    if (!p.down.defined()) fail("key '" + p.up_key + "' has no matching down (A) matrix");
    if (!p.up.defined()) fail("key '" + p.down_key + "' has no matching up (B) matrix");
    const auto& shape = target(component, path, p.down_key);
    lora_module m;
    m.key = p.down_key;
    m.convolution = shape.kernel > 0;
    auto down = p.down, up = p.up;
    if (down.dim() == 4) {
      if (shape.kernel == 0)
        fail("key '" + p.down_key + "' is a convolution kernel, but " + path +
             " is a linear layer");
      if (down.size(2) != 1 || down.size(3) != 1 || shape.kernel != 1)
        fail("key '" + p.down_key + "': convolution LoRAs with " + std::to_string(shape.kernel) +
             "x" + std::to_string(shape.kernel) +
             " kernels (kohya LoCon) are not supported; only linear layers and 1x1 convolutions");
      if (up.dim() != 4 || up.size(2) != 1 || up.size(3) != 1)
        fail("key '" + p.up_key + "' must be a 1x1 kernel like its down matrix");
      down = down.flatten(1), up = up.flatten(1);
    } else if (shape.kernel > 1) {
      fail("key '" + p.down_key + "' targets " + path + ", a " + std::to_string(shape.kernel) +
           "x" + std::to_string(shape.kernel) +
           " convolution: convolution LoRAs (kohya LoCon) are not supported");
    }
    if (down.dim() != 2 || up.dim() != 2)
      fail("key '" + p.down_key + "': the down and up matrices must be 2-D");
    const auto rank = down.size(0);
    if (rank < 1 || up.size(1) != rank || down.size(1) != shape.in || up.size(0) != shape.out)
      fail("key '" + p.down_key + "': shapes " + shape_of(p.down) + " and " + shape_of(p.up) +
           " do not fit " + path + " (" + std::to_string(shape.in) + " -> " +
           std::to_string(shape.out) + "; a LoRA for another base model?)");
    m.down = down.to(torch::kFloat32).contiguous().clone();
    m.up = up.to(torch::kFloat32).contiguous().clone();
    m.alpha = p.alpha ? *p.alpha : default_alpha > 0 ? default_alpha : static_cast<double>(rank);
    if (!std::isfinite(m.alpha)) fail("key '" + p.down_key + "': its alpha is not finite");
    return m;
  }

  static std::string shape_of(const torch::Tensor& t) {
    std::string s = "(";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + ")";
  }

  static double scalar(const torch::Tensor& t) { return t.to(torch::kFloat64).item<double>(); }

  const lora_targets& targets_;
  std::string name_;
  std::map<std::pair<std::string, std::string>, pending_module> pending_;
};

// Keys of LoRA variants this code does not compute, with what they are.
std::optional<std::string> unsupported_variant(const std::string& key) {
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"hada_", "LoHa (LyCORIS)"},
      {"lokr_", "LoKr (LyCORIS)"},
      {"dora_scale", "DoRA"},
      {"lora_magnitude_vector", "DoRA"},
      {"lora_mid", "Tucker-decomposed LoCon"},
      {".diff", "full weight differences"},
      {"lora_B.bias", "LoRA biases"},
      {"lora_up.bias", "LoRA biases"}};
  for (const auto& [marker, what] : variants)
    if (key.find(marker) != std::string::npos) return what;
  return std::nullopt;
}

// Reads "<int>_" at `at`, moving past it; -1 when there is none.
int read_index(const std::string& s, size_t& at) {
  size_t end = at;
  while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
  if (end == at || end >= s.size() || s[end] != '_' || end - at > 4) return -1;
  const int value = std::stoi(s.substr(at, end - at));
  at = end + 1;
  return value;
}

// kohya's SDXL LoRAs name UNet modules by SGM blocks ("input_blocks_4_1_transformer_blocks_0_...",
// "middle_block_1_...", "output_blocks_2_1_..."). Their diffusers name, spelled with underscores,
// from the model's layers per block (counted in its own modules), as diffusers'
// _maybe_map_sgm_blocks_to_diffusers maps them; "" where the key is not one of those blocks.
std::string sgm_to_diffusers(const std::string& rest,
                             const std::map<std::string, lora_target_shape>& unet) {
  int per_block = 0;
  while (unet.count("down_blocks.0.resnets." + std::to_string(per_block) + ".conv1")) ++per_block;
  if (per_block == 0) return "";
  const auto inner = [](const std::string& tail) {
    // A resnet's parts under SGM names; its 3x3 convolutions are refused later as LoCon.
    const std::vector<std::pair<std::string, std::string>> names = {
        {"emb_layers_1", "time_emb_proj"},
        {"skip_connection", "conv_shortcut"},
        {"in_layers_2", "conv1"},
        {"out_layers_3", "conv2"},
        {"op", "conv"}};
    for (const auto& [sgm, diffusers] : names)
      if (tail == sgm) return diffusers;
    return tail;
  };
  size_t at = 0;
  if (starts_with(rest, "middle_block_")) {
    at = std::string("middle_block_").size();
    const int j = read_index(rest, at);
    const char* parts[] = {"resnets_0", "attentions_0", "resnets_1"};
    if (j < 0 || j > 2) return "";
    return "mid_block_" + std::string(parts[j]) + "_" + inner(rest.substr(at));
  }
  const bool down = starts_with(rest, "input_blocks_");
  if (!down && !starts_with(rest, "output_blocks_")) return "";
  at = std::string(down ? "input_blocks_" : "output_blocks_").size();
  const int i = read_index(rest, at);
  const int j = i < 0 ? -1 : read_index(rest, at);
  if (i < 0 || j < 0 || (down && i == 0)) return "";
  const int index = down ? i - 1 : i;
  const int level = index / (per_block + 1), within = index % (per_block + 1);
  const auto block =
      std::string(down ? "down_blocks_" : "up_blocks_") + std::to_string(level) + "_";
  const auto tail = inner(rest.substr(at));
  if (down && within == per_block) return block + "downsamplers_0_" + tail;
  if (j == 0) return block + "resnets_" + std::to_string(within) + "_" + tail;
  const bool attention = unet.count((down ? "down_blocks." : "up_blocks.") + std::to_string(level) +
                                    ".attentions." + std::to_string(within) + ".proj_in") > 0;
  if (j == 1 && attention) return block + "attentions_" + std::to_string(within) + "_" + tail;
  if (!down && (j == 2 || (j == 1 && !attention))) return block + "upsamplers_0_" + tail;
  return "";
}

// kohya: "lora_unet_<path with '.' as '_'>.lora_down.weight". kohya names a module by its
// diffusers path with dots made underscores, so the model's own paths, so spelled, find it.
lora_file parse_kohya(const weight_map& weights, const lora_targets& targets,
                      const std::string& name) {
  lora_reader reader(targets, name);
  std::map<std::string, std::map<std::string, std::string>> by_kohya_name;
  for (const auto& [component, modules] : targets)
    for (const auto& [path, shape] : modules) {
      auto spelled = path;
      for (auto& c : spelled)
        if (c == '.') c = '_';
      by_kohya_name[component][spelled] = path;
    }
  const std::vector<std::pair<std::string, std::string>> prefixes = {
      {"lora_unet_", "unet"},
      {"lora_te1_", "text_encoder"},
      {"lora_te2_", "text_encoder_2"},
      {"lora_te_", "text_encoder"}};
  std::vector<double> alphas;
  for (const auto& key : weights.names()) {
    const auto dot = key.find('.');
    const auto stem = key.substr(0, dot);
    const auto suffix = dot == std::string::npos ? "" : key.substr(dot + 1);
    if (auto variant = unsupported_variant(key))
      reader.fail("key '" + key + "' is a " + *variant + " weight, which is not supported");
    if (suffix != "lora_down.weight" && suffix != "lora_up.weight" && suffix != "alpha")
      reader.fail("unexpected key '" + key +
                  "' (kohya LoRAs hold .lora_down.weight, .lora_up.weight and .alpha)");
    std::string component, rest;
    for (const auto& [prefix, part] : prefixes)
      if (starts_with(stem, prefix)) {
        component = part;
        rest = stem.substr(prefix.size());
        break;
      }
    if (component.empty())
      reader.fail("key '" + key + "' is neither lora_unet_ nor lora_te_/lora_te1_/lora_te2_");
    if (component == "unet" &&
        (starts_with(rest, "input_blocks_") || starts_with(rest, "middle_block_") ||
         starts_with(rest, "output_blocks_"))) {
      const auto unet = targets.find("unet");
      const auto mapped = unet == targets.end() ? "" : sgm_to_diffusers(rest, unet->second);
      if (mapped.empty())
        reader.fail("key '" + key + "': an SGM block name with no diffusers module in this model");
      rest = mapped;
    }
    const std::string* path = nullptr;
    const auto names = by_kohya_name.find(component);
    if (names != by_kohya_name.end()) {
      auto found = names->second.find(rest);
      if (found == names->second.end() && component != "unet")
        found = names->second.find("text_model_" + rest);
      if (found != names->second.end()) path = &found->second;
    }
    if (!path) reader.target(component, rest, key);  // throws: no such module
    auto& p = reader.slot(component, *path);
    const auto tensor = weights.get(key);
    if (suffix == "lora_down.weight") {
      p.down = tensor, p.down_key = key;
    } else if (suffix == "lora_up.weight") {
      p.up = tensor, p.up_key = key;
    } else {
      if (tensor.numel() != 1) reader.fail("key '" + key + "' must hold one number");
      p.alpha = lora_reader::scalar(tensor);
      alphas.push_back(*p.alpha);
    }
  }
  // diffusers gives a module without an alpha the alpha most modules have (get_peft_kwargs).
  double common_alpha = 0;
  size_t best = 0;
  for (double a : alphas) {
    const auto n = static_cast<size_t>(std::count(alphas.begin(), alphas.end(), a));
    if (n > best) best = n, common_alpha = a;
  }
  lora_file file;
  file.format = lora_format::kohya;
  for (const auto& [where, p] : reader.pending_) {
    if (!p.down.defined() && !p.up.defined())
      reader.fail("key '" + where.second + ".alpha' has no down and up matrices");
    file.components[where.first][where.second] =
        reader.finish(where.first, where.second, p, common_alpha);
  }
  return file;
}

// The LoraConfig diffusers saved in the file's metadata for one component, if any.
struct peft_config {
  double lora_alpha = 8;  // LoraConfig's defaults
  int64_t r = 8;
  std::map<std::string, double> alpha_pattern;
  std::map<std::string, int64_t> rank_pattern;
};

// PEFT's get_pattern_key: a pattern names a module by its full path or a tail of it.
template <class T>
const T* find_pattern(const std::map<std::string, T>& patterns, const std::string& path) {
  for (const auto& [pattern, value] : patterns)
    if (path == pattern || ends_with(path, "." + pattern)) return &value;
  return nullptr;
}

std::map<std::string, peft_config> read_peft_metadata(const weight_map& weights,
                                                      const lora_reader& reader) {
  std::map<std::string, peft_config> configs;
  const auto it = weights.metadata().find("lora_adapter_metadata");
  if (it == weights.metadata().end()) return configs;
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    reader.fail(std::string("lora_adapter_metadata is not JSON: ") + e.what());
  }
  if (!meta.is_object()) reader.fail("lora_adapter_metadata is not a JSON object");
  try {
    for (const auto& [key, value] : meta.items()) {
      const auto dot = key.find('.');
      if (dot == std::string::npos) continue;
      auto& c = configs[key.substr(0, dot)];
      const auto field = key.substr(dot + 1);
      if (field == "lora_alpha") c.lora_alpha = value.get<double>();
      if (field == "r") c.r = value.get<int64_t>();
      if (field == "alpha_pattern")
        for (const auto& [k, v] : value.items()) c.alpha_pattern[k] = v.get<double>();
      if (field == "rank_pattern")
        for (const auto& [k, v] : value.items()) c.rank_pattern[k] = v.get<int64_t>();
      if ((field == "use_rslora" || field == "use_dora" || field == "lora_bias") &&
          value.is_boolean() && value.get<bool>())
        reader.fail("lora_adapter_metadata sets " + key + ", which is not supported");
    }
  } catch (const nlohmann::json::exception& e) {
    reader.fail(std::string("lora_adapter_metadata: ") + e.what());
  }
  return configs;
}

// transformers 5 names CLIPTextModel's modules without the "text_model." of earlier versions, so
// LoRAs saved against it do too: such a path is the module under text_model.
std::string text_model_path(const lora_targets& targets, const std::string& component,
                            const std::string& path) {
  const auto modules = targets.find(component);
  if (component == "unet" || modules == targets.end() || modules->second.count(path)) return path;
  return modules->second.count("text_model." + path) ? "text_model." + path : path;
}

// diffusers / PEFT: "<component>.<module path>.lora_A.weight".
lora_file parse_peft(const weight_map& weights, const lora_targets& targets,
                     const std::string& name) {
  lora_reader reader(targets, name);
  const std::vector<std::pair<std::string, int>> suffixes = {{".lora_A.weight", 0},
                                                             {".lora_B.weight", 1},
                                                             {".lora.down.weight", 0},
                                                             {".lora.up.weight", 1},
                                                             {".alpha", 2}};
  std::vector<double> alphas;
  for (const auto& key : weights.names()) {
    if (auto variant = unsupported_variant(key))
      reader.fail("key '" + key + "' is a " + *variant + " weight, which is not supported");
    int role = -1;
    std::string rest;
    for (const auto& [suffix, r] : suffixes)
      if (ends_with(key, suffix)) {
        role = r;
        rest = key.substr(0, key.size() - suffix.size());
        break;
      }
    if (role < 0)
      reader.fail("unexpected key '" + key +
                  "' (diffusers LoRAs hold <module>.lora_A.weight and .lora_B.weight)");
    const auto dot = rest.find('.');
    if (dot == std::string::npos)
      reader.fail("key '" + key + "' names no component (unet., text_encoder., text_encoder_2.)");
    const auto component = rest.substr(0, dot);
    auto path = rest.substr(dot + 1);
    if (component != "unet" && component != "text_encoder" && component != "text_encoder_2")
      reader.fail("key '" + key + "' names no component (unet., text_encoder., text_encoder_2.)");
    path = text_model_path(targets, component, path);
    reader.target(component, path, key);
    auto& p = reader.slot(component, path);
    const auto tensor = weights.get(key);
    if (role == 0) {
      p.down = tensor, p.down_key = key;
    } else if (role == 1) {
      p.up = tensor, p.up_key = key;
    } else {
      if (tensor.numel() != 1) reader.fail("key '" + key + "' must hold one number");
      p.alpha = lora_reader::scalar(tensor);
      alphas.push_back(*p.alpha);
    }
  }
  const auto configs = read_peft_metadata(weights, reader);
  double common_alpha = 0;
  size_t best = 0;
  for (double a : alphas) {
    const auto n = static_cast<size_t>(std::count(alphas.begin(), alphas.end(), a));
    if (n > best) best = n, common_alpha = a;
  }
  lora_file file;
  file.format = lora_format::peft;
  for (auto [where, p] : reader.pending_) {
    const auto& [component, path] = where;
    const auto config = configs.find(component);
    if (config != configs.end() && p.down.defined()) {
      // LoraConfig(**metadata): scaling = alpha / r of the module's pattern, or the defaults.
      const auto& c = config->second;
      const auto* alpha = find_pattern(c.alpha_pattern, path);
      const auto* rank = find_pattern(c.rank_pattern, path);
      const auto r = rank ? *rank : c.r;
      if (r != p.down.size(0))
        reader.fail("key '" + p.down_key + "' has rank " + std::to_string(p.down.size(0)) +
                    ", its metadata says " + std::to_string(r));
      p.alpha = alpha ? *alpha : c.lora_alpha;
    }
    file.components[component][path] = reader.finish(component, path, p, common_alpha);
  }
  return file;
}

}  // namespace

size_t lora_file::module_count() const {
  size_t n = 0;
  for (const auto& [component, modules] : components) n += modules.size();
  return n;
}

lora_file parse_lora(const weight_map& weights, const lora_targets& targets,
                     const std::string& name) {
  bool kohya = false, peft = false;
  for (const auto& key : weights.names()) {
    if (starts_with(key, "lora_unet_") || starts_with(key, "lora_te"))
      kohya = true;
    else
      peft = true;
  }
  if (!kohya && !peft) throw model_error("LoRA '" + name + "': the file holds no tensors");
  if (kohya && peft)
    throw model_error(
        "LoRA '" + name +
        "': mixes kohya (lora_unet_/lora_te_) and diffusers (unet./text_encoder.) keys");
  auto file = kohya ? parse_kohya(weights, targets, name) : parse_peft(weights, targets, name);
  if (file.module_count() == 0) throw model_error("LoRA '" + name + "': no LoRA weights found");
  return file;
}

lora_file read_lora_file(const std::string& path, const lora_targets& targets) {
  return parse_lora(weight_map::open(path), targets, path);
}

}  // namespace muse::model
