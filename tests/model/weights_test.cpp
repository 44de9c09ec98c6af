#include "model/formats/weights.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/generator.hpp"

using namespace muse::model;

namespace {

struct raw_tensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Writes a .safetensors file by hand: u64 header length, JSON header, raw little-endian data.
std::string write_safetensors(const std::string& name,
                              const std::map<std::string, raw_tensor>& tensors) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  std::string data;
  for (const auto& [key, t] : tensors) {
    header[key] = {{"dtype", t.dtype},
                   {"shape", t.shape},
                   {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  auto text = header.dump();
  while (text.size() % 8) text += ' ';
  const std::string path = "/tmp/muse_weights_test_" + std::to_string(getpid()) + "_" + name;
  std::ofstream out(path, std::ios::binary);
  const uint64_t size = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((size >> (8 * i)) & 0xFF));
  out << text << data;
  return path;
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

}  // namespace

TEST_CASE("safetensors files load as tensors of each float type") {
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x3800};   // 1, -2, 0.5
  const std::vector<uint16_t> bf16 = {0x3F80, 0x4040, 0xBF00};  // 1, 3, -0.5
  const auto path =
      write_safetensors("types.safetensors", {{"a.weight", {"F32", {2, 3}, bytes_of(f32)}},
                                              {"b", {"F16", {3}, bytes_of(f16)}},
                                              {"c", {"BF16", {3}, bytes_of(bf16)}}});
  auto weights = weight_map::open(path);
  std::remove(path.c_str());  // the mapping keeps the data alive
  REQUIRE(weights.names() == std::vector<std::string>{"a.weight", "b", "c"});
  auto a = weights.get("a.weight");
  CHECK(a.sizes() == torch::IntArrayRef({2, 3}));
  CHECK(a.scalar_type() == torch::kFloat32);
  CHECK(a[1][1].item<float>() == 7.0f);
  auto b = weights.get("b").to(torch::kFloat32);
  CHECK(weights.get("b").scalar_type() == torch::kFloat16);
  CHECK(b[0].item<float>() == 1.0f);
  CHECK(b[1].item<float>() == -2.0f);
  CHECK(b[2].item<float>() == 0.5f);
  auto c = weights.get("c").to(torch::kFloat32);
  CHECK(weights.get("c").scalar_type() == torch::kBFloat16);
  CHECK(c[1].item<float>() == 3.0f);
  CHECK(c[2].item<float>() == -0.5f);
  CHECK_THROWS_AS(weights.get("missing"), model_error);
}

TEST_CASE("sharded files, prefixes and renames") {
  const std::vector<float> one = {1.0f}, two = {2.0f, 3.0f};
  const auto p1 = write_safetensors("s1.safetensors", {{"model.x", {"F32", {1}, bytes_of(one)}}});
  const auto p2 = write_safetensors("s2.safetensors", {{"model.y", {"F32", {2}, bytes_of(two)}},
                                                       {"other.z", {"F32", {1}, bytes_of(one)}}});
  auto all = weight_map::open_many({p1, p2});
  std::remove(p1.c_str());
  std::remove(p2.c_str());
  CHECK(all.names().size() == 3);
  auto model = all.with_prefix("model.");
  CHECK(model.names() == std::vector<std::string>{"x", "y"});
  auto renamed =
      all.renamed([](const std::string& k) { return k == "other.z" ? std::string() : k + ".w"; });
  CHECK(renamed.names() == std::vector<std::string>{"model.x.w", "model.y.w"});
  CHECK(renamed.get("model.y.w")[1].item<float>() == 3.0f);
}

TEST_CASE("malformed safetensors files are rejected with the file named") {
  const std::string path = "/tmp/muse_weights_test_bad_" + std::to_string(getpid());
  {
    std::ofstream out(path, std::ios::binary);
    const uint64_t size = 1000;
    out.write(reinterpret_cast<const char*>(&size), 8);
    out << "{}";
  }
  try {
    weight_map::open(path);
    FAIL("expected an error");
  } catch (const model_error& e) {
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
  std::remove(path.c_str());
  const std::vector<float> v = {1.0f};
  const auto bad_shape = write_safetensors("shape.safetensors", {{"x", {"F32", {2}, bytes_of(v)}}});
  CHECK_THROWS_AS(weight_map::open(bad_shape), model_error);
  std::remove(bad_shape.c_str());
  CHECK_THROWS_AS(weight_map::open("/nonexistent/file.safetensors"), model_error);
}

TEST_CASE("load_module fills parameters by name and reports every problem") {
  torch::nn::Linear linear(2, 3);
  auto good =
      weight_map::from_tensors({{"weight", torch::ones({3, 2})}, {"bias", torch::full({3}, 2.0)}});
  load_module(*linear, good);
  CHECK(linear->weight.sum().item<float>() == 6.0f);
  CHECK(linear->bias.sum().item<float>() == 6.0f);

  auto wrong =
      weight_map::from_tensors({{"weight", torch::ones({2, 2})}, {"extra", torch::ones({1})}});
  try {
    load_module(*linear, wrong);
    FAIL("expected an error");
  } catch (const model_error& e) {
    const std::string what = e.what();
    CHECK(what.find("missing: bias") != std::string::npos);
    CHECK(what.find("shape mismatch: weight") != std::string::npos);
    CHECK(what.find("unexpected: extra") != std::string::npos);
  }
  auto loose = weight_map::from_tensors({{"weight", torch::zeros({3, 2}, torch::kFloat16)},
                                         {"bias", torch::zeros({3})},
                                         {"extra", torch::ones({1})}});
  load_module(*linear, loose, /*strict=*/false);
  CHECK(linear->weight.abs().sum().item<float>() == 0.0f);
  CHECK(linear->weight.scalar_type() == torch::kFloat32);
}

TEST_CASE("dtype and device names") {
  CHECK(parse_dtype("float32") == torch::kFloat32);
  CHECK(parse_dtype("float16") == torch::kFloat16);
  CHECK(parse_dtype("bfloat16") == torch::kBFloat16);
  CHECK_THROWS_AS(parse_dtype("int8"), model_error);
  CHECK(parse_device("cpu").is_cpu());
  CHECK_THROWS_AS(parse_device("tpu"), model_error);
  CHECK_THROWS_AS(parse_device("cuda:x"), model_error);
  if (!torch::cuda::is_available()) CHECK_THROWS_AS(parse_device("cuda:0"), model_error);
}
