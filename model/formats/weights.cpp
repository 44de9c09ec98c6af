#include "model/formats/weights.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model/formats/safetensors_header.hpp"
#include "model/generator.hpp"

namespace muse::model {

// One read-only (copy-on-write) mapping of a whole file; tensors keep it alive through their
// deleters.
struct weight_map::mapping {
  void* data = nullptr;
  size_t size = 0;
  std::string path;
  ~mapping() {
    if (data != nullptr && data != MAP_FAILED) munmap(data, size);
  }
};

namespace {

torch::Dtype torch_dtype(element_type type) {
  switch (type) {
    case element_type::f64:
      return torch::kFloat64;
    case element_type::f32:
      return torch::kFloat32;
    case element_type::f16:
      return torch::kFloat16;
    case element_type::bf16:
      return torch::kBFloat16;
    case element_type::i64:
      return torch::kInt64;
    case element_type::i32:
      return torch::kInt32;
    case element_type::i16:
      return torch::kInt16;
    case element_type::i8:
      return torch::kInt8;
    case element_type::u8:
      return torch::kUInt8;
    case element_type::boolean:
      return torch::kBool;
  }
  return torch::kFloat32;
}

}  // namespace

weight_map weight_map::open(const std::string& path) { return open_many({path}); }

weight_map weight_map::open_many(const std::vector<std::string>& paths) {
  weight_map result;
  for (const auto& path : paths) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw model_error("cannot open weights file " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      ::close(fd);
      throw model_error("cannot stat " + path);
    }
    auto map = std::make_shared<mapping>();
    map->path = path;
    map->size = static_cast<size_t>(st.st_size);
    if (map->size < 8) {
      ::close(fd);
      throw model_error(path + ": too small to be a safetensors file");
    }
    // Private + writable so that tensors viewing the file behave like ordinary tensors; pages are
    // only copied if someone writes to them.
    map->data = mmap(nullptr, map->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map->data == MAP_FAILED)
      throw model_error("cannot map " + path + ": " + std::strerror(errno));

    const auto header =
        read_safetensors_header(static_cast<const uint8_t*>(map->data), map->size, path);
    uint8_t* data_start = static_cast<uint8_t*>(map->data) + header.data_offset;
    for (const auto& [key, extent] : header.tensors) {
      if (result.tensors_.count(key))
        throw model_error("tensor '" + key + "' appears in more than one weights file");
      auto keep = map;
      result.tensors_.emplace(
          key, torch::from_blob(
                   data_start + extent.begin, extent.shape, [keep](void*) mutable { keep.reset(); },
                   torch::TensorOptions().dtype(torch_dtype(extent.type))));
    }
    for (const auto& [key, value] : header.metadata) result.metadata_[key] = value;
    result.mappings_.push_back(map);
  }
  return result;
}

bool weight_map::contains(const std::string& name) const { return tensors_.count(name) > 0; }

torch::Tensor weight_map::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw model_error("missing weight '" + name + "'");
  return it->second;
}

std::vector<std::string> weight_map::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

weight_map weight_map::with_prefix(const std::string& prefix) const {
  weight_map out;
  out.mappings_ = mappings_;
  out.metadata_ = metadata_;
  for (const auto& [key, tensor] : tensors_)
    if (key.compare(0, prefix.size(), prefix) == 0)
      out.tensors_.emplace(key.substr(prefix.size()), tensor);
  return out;
}

weight_map weight_map::renamed(const std::function<std::string(const std::string&)>& rename) const {
  weight_map out;
  out.mappings_ = mappings_;
  out.metadata_ = metadata_;
  for (const auto& [key, tensor] : tensors_) {
    auto name = rename(key);
    if (name.empty()) continue;
    if (!out.tensors_.emplace(name, tensor).second)
      throw model_error("two weights renamed to the same key '" + name + "'");
  }
  return out;
}

weight_map weight_map::from_tensors(std::map<std::string, torch::Tensor> tensors,
                                    std::map<std::string, std::string> metadata) {
  weight_map out;
  out.tensors_ = std::move(tensors);
  out.metadata_ = std::move(metadata);
  return out;
}

namespace {

std::string shape_string(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

std::string list_some(const std::vector<std::string>& items) {
  std::string out;
  const size_t shown = std::min<size_t>(items.size(), 8);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > shown) out += " and " + std::to_string(items.size() - shown) + " more";
  return out;
}

}  // namespace

void load_module(torch::nn::Module& module, const weight_map& weights, bool strict) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing, mismatched, unused;
  std::set<std::string> used;
  auto fill = [&](const std::string& name, torch::Tensor& target) {
    if (!weights.contains(name)) {
      missing.push_back(name);
      return;
    }
    auto source = weights.get(name);
    if (source.sizes() != target.sizes()) {
      mismatched.push_back(name + " (file " + shape_string(source.sizes()) + ", model " +
                           shape_string(target.sizes()) + ")");
      return;
    }
    target.copy_(source);
    used.insert(name);
  };
  for (auto& item : module.named_parameters(true)) fill(item.key(), item.value());
  for (auto& item : module.named_buffers(true)) fill(item.key(), item.value());
  if (strict)
    for (const auto& name : weights.names())
      if (!used.count(name)) unused.push_back(name);
  std::string problems;
  if (!missing.empty()) problems += " missing: " + list_some(missing) + ";";
  if (!mismatched.empty()) problems += " shape mismatch: " + list_some(mismatched) + ";";
  if (!unused.empty()) problems += " unexpected: " + list_some(unused) + ";";
  if (!problems.empty()) throw model_error("cannot load weights:" + problems);
}

torch::Dtype parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  throw model_error("unknown dtype '" + name + "' (expected float32, float16 or bfloat16)");
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      const auto digits = name.substr(5);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
          digits.size() > 4)
        throw model_error("bad device '" + name + "' (expected cpu, cuda or cuda:N)");
      index = std::stoi(digits);
    }
    if (!torch::cuda::is_available())
      throw model_error("device '" + name + "' asked for, but CUDA is not available");
    if (index >= static_cast<int>(torch::cuda::device_count()))
      throw model_error("device '" + name + "' does not exist (" +
                        std::to_string(torch::cuda::device_count()) + " CUDA devices)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw model_error("bad device '" + name + "' (expected cpu, cuda or cuda:N)");
}

}  // namespace muse::model
