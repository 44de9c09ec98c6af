#pragma once
// The header of a .safetensors file, read without libtorch: the table of tensors (name, element
// type, shape, byte range) that weight_map maps. The format: 8 bytes little-endian N, N bytes of
// JSON ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), then
// the tensors' bytes. Every entry is checked against the file's size, so a truncated or hostile
// file is a model_error naming the file and what is wrong, never a read out of range.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace muse::model {

enum class element_type { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

size_t element_bytes(element_type type);

struct tensor_extent {
  element_type type = element_type::f32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range within the data section
  uint64_t end = 0;
};

struct safetensors_header {
  uint64_t data_offset = 0;  // where the data section starts in the file: 8 + N
  std::map<std::string, tensor_extent> tensors;
  // "__metadata__": free-form text the writer left (a LoRA's adapter config, say); only string
  // values, as the format allows, are kept.
  std::map<std::string, std::string> metadata;
};

// The JSON header may be at most this long (as safetensors' own reader allows).
constexpr uint64_t max_safetensors_header_bytes = uint64_t(100) << 20;

// `file`: the whole file's `size` bytes (a memory mapping); `path` names it in errors.
safetensors_header read_safetensors_header(const uint8_t* file, size_t size,
                                           const std::string& path);

}  // namespace muse::model
