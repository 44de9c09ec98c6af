#include "model/formats/safetensors_header.hpp"

#include <nlohmann/json.hpp>

#include "model/generator.hpp"

namespace muse::model {

namespace {

// The header is a flat table: an object of objects of scalars and arrays of numbers.
constexpr int max_header_depth = 4;

element_type element_type_named(const std::string& name, const std::string& key,
                                const std::string& path) {
  static const std::map<std::string, element_type> types = {
      {"F64", element_type::f64},     {"F32", element_type::f32}, {"F16", element_type::f16},
      {"BF16", element_type::bf16},   {"I64", element_type::i64}, {"I32", element_type::i32},
      {"I16", element_type::i16},     {"I8", element_type::i8},   {"U8", element_type::u8},
      {"BOOL", element_type::boolean}};
  auto it = types.find(name);
  if (it == types.end())
    throw model_error(path + ": tensor '" + key + "' has unsupported dtype " + name);
  return it->second;
}

tensor_extent read_entry(const nlohmann::json& entry, const std::string& key, uint64_t data_size,
                         const std::string& path) {
  auto bad = [&](const std::string& what) {
    return model_error(path + ": tensor '" + key + "' " + what);
  };
  if (!entry.is_object()) throw bad("is not described by an object");
  tensor_extent extent;
  const auto& dtype = entry.at("dtype");
  if (!dtype.is_string()) throw bad("has a dtype that is not a string");
  extent.type = element_type_named(dtype.get<std::string>(), key, path);

  const auto& shape = entry.at("shape");
  if (!shape.is_array()) throw bad("has a shape that is not a list");
  uint64_t elements = 1;
  for (const auto& dimension : shape) {
    if (!dimension.is_number_unsigned())
      throw bad("has a dimension that is not a whole number >= 0");
    const uint64_t d = dimension.get<uint64_t>();
    if (d > uint64_t(INT64_MAX) || __builtin_mul_overflow(elements, d, &elements))
      throw bad("has more elements than can be addressed");
    extent.shape.push_back(int64_t(d));
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, uint64_t(element_bytes(extent.type)), &bytes))
    throw bad("has more bytes than can be addressed");

  const auto& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw bad("has data_offsets that are not two whole numbers");
  extent.begin = offsets[0].get<uint64_t>();
  extent.end = offsets[1].get<uint64_t>();
  if (extent.begin > extent.end || extent.end > data_size)
    throw bad("has data_offsets outside the file's data");
  if (extent.end - extent.begin != bytes) throw bad("byte size does not match its shape");
  return extent;
}

}  // namespace

size_t element_bytes(element_type type) {
  switch (type) {
    case element_type::f64:
    case element_type::i64:
      return 8;
    case element_type::f32:
    case element_type::i32:
      return 4;
    case element_type::f16:
    case element_type::bf16:
    case element_type::i16:
      return 2;
    case element_type::i8:
    case element_type::u8:
    case element_type::boolean:
      return 1;
  }
  return 1;
}

safetensors_header read_safetensors_header(const uint8_t* file, size_t size,
                                           const std::string& path) {
  if (size < 8) throw model_error(path + ": too small to be a safetensors file");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | file[i];
  if (header_size > size - 8) throw model_error(path + ": header size exceeds the file");
  if (header_size > max_safetensors_header_bytes)
    throw model_error(path + ": header of " + std::to_string(header_size) + " bytes, over " +
                      std::to_string(max_safetensors_header_bytes));

  nlohmann::json header;
  try {
    // Nesting is checked while parsing, so no input builds a structure deep enough to exhaust
    // the stack of whatever walks it later.
    header = nlohmann::json::parse(
        file + 8, file + 8 + header_size,
        [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > max_header_depth)
            throw model_error(path + ": safetensors header nested deeper than " +
                              std::to_string(max_header_depth));
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path + ": bad safetensors header: " + e.what());
  }
  if (!header.is_object()) throw model_error(path + ": safetensors header is not an object");

  safetensors_header result;
  result.data_offset = 8 + header_size;
  const uint64_t data_size = size - result.data_offset;
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      // Free-form: values other than strings (which the format does not allow) are left out
      // rather than refusing weights that load elsewhere.
      if (entry.is_object())
        for (const auto& [name, value] : entry.items())
          if (value.is_string()) result.metadata.emplace(name, value.get<std::string>());
      continue;
    }
    try {
      result.tensors.emplace(key, read_entry(entry, key, data_size, path));
    } catch (const nlohmann::json::exception& e) {
      throw model_error(path + ": bad header entry for '" + key + "': " + e.what());
    }
  }
  return result;
}

}  // namespace muse::model
