// read_safetensors_header on any bytes, as weight_map gets them from a mapped file: a model_error
// naming the file, or a table whose every tensor lies inside the file's data with exactly the
// bytes its type and shape need.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/formats/safetensors_header.hpp"
#include "model/generator.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace muse::model;
  try {
    const safetensors_header header = read_safetensors_header(data, size, "fuzz");
    if (header.data_offset < 8 || header.data_offset > size) __builtin_trap();
    for (const auto& [name, extent] : header.tensors) {
      if (extent.begin > extent.end || extent.end > size - header.data_offset) __builtin_trap();
      uint64_t bytes = element_bytes(extent.type);
      for (int64_t d : extent.shape) {
        if (d < 0) __builtin_trap();
        bytes *= uint64_t(d);  // cannot wrap: the reader refused any shape that does
      }
      if (bytes != extent.end - extent.begin) __builtin_trap();
    }
  } catch (const model_error& e) {
    if (std::string(e.what()).rfind("fuzz: ", 0) != 0) __builtin_trap();
  }
  return 0;
}
