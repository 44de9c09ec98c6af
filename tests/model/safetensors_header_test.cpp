#include "model/formats/safetensors_header.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "model/generator.hpp"

using namespace muse::model;

namespace {

// A file of `header` (padded as safetensors pads it) followed by `data_bytes` zero bytes.
std::string file_of(const std::string& header, size_t data_bytes = 0) {
  std::string text = header;
  while (text.size() % 8) text += ' ';
  std::string file;
  for (int i = 0; i < 8; ++i) file.push_back(char((uint64_t(text.size()) >> (8 * i)) & 0xFF));
  return file + text + std::string(data_bytes, '\0');
}

safetensors_header read(const std::string& file) {
  return read_safetensors_header(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "f");
}

// The message of the model_error reading `file` throws.
std::string error_reading(const std::string& file) {
  try {
    read(file);
  } catch (const model_error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a safetensors header lists each tensor's type, shape and bytes", "[safetensors]") {
  const auto file = file_of(
      R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "F16", "shape": [2, 3],)"
      R"( "data_offsets": [0, 12]}, "s": {"dtype": "I64", "shape": [], "data_offsets": [12, 20]}})",
      20);
  const auto header = read(file);
  CHECK(header.data_offset == file.size() - 20);
  REQUIRE(header.tensors.size() == 2);
  const auto& w = header.tensors.at("w");
  CHECK(w.type == element_type::f16);
  CHECK(w.shape == std::vector<int64_t>{2, 3});
  CHECK(w.begin == 0);
  CHECK(w.end == 12);
  const auto& s = header.tensors.at("s");
  CHECK(s.shape.empty());
  CHECK(element_bytes(s.type) == 8);
}

TEST_CASE("a hostile safetensors header is an error naming what is wrong", "[safetensors]") {
  auto entry = [](const std::string& fields) { return file_of(R"({"x": {)" + fields + "}}", 16); };
  const std::pair<std::string, std::string> cases[] = {
      {"1234", "too small"},
      {std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8) + "{}", "header size exceeds the file"},
      {file_of("[1, 2]"), "not an object"},
      {file_of("{\"x\": "), "bad safetensors header"},
      {file_of(std::string(100, '[') + std::string(100, ']')), "nested deeper than"},
      {file_of(R"({"x": {"dtype": "F32", "shape": [[[[[[1]]]]]], "data_offsets": [0, 4]}})", 4),
       "nested deeper than"},
      {entry(R"("dtype": "F8", "shape": [1], "data_offsets": [0, 1])"), "unsupported dtype F8"},
      {entry(R"("dtype": 3, "shape": [1], "data_offsets": [0, 4])"), "dtype that is not a string"},
      {entry(R"("dtype": "F32", "shape": [-1], "data_offsets": [0, 4])"), "not a whole number"},
      {entry(R"("dtype": "F32", "shape": [1.5], "data_offsets": [0, 4])"), "not a whole number"},
      {entry(R"("dtype": "F32", "shape": 4, "data_offsets": [0, 4])"), "not a list"},
      {entry(R"("dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4])"),
       "more elements than can be addressed"},
      {entry(R"("dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 4])"),
       "more bytes than can be addressed"},
      {entry(R"("dtype": "F32", "shape": [1], "data_offsets": [0])"), "not two whole numbers"},
      {entry(R"("dtype": "F32", "shape": [1], "data_offsets": [8, 4])"), "outside the file's data"},
      {entry(R"("dtype": "F32", "shape": [1], "data_offsets": [16, 20])"),
       "outside the file's data"},
      {entry(R"("dtype": "F32", "shape": [2], "data_offsets": [0, 4])"),
       "does not match its shape"},
      {entry(R"("shape": [1], "data_offsets": [0, 4])"), "bad header entry for 'x'"},
      {file_of(R"({"x": 7})"), "not described by an object"},
  };
  for (const auto& [file, expected] : cases) {
    INFO(expected);
    const auto message = error_reading(file);
    CHECK_THAT(message, Catch::StartsWith("f: ") && Catch::Contains(expected));
  }
}
