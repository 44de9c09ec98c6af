// CLIPTokenizer parity on the 80 strings of tests/data/tokenizer_parity.json, for both test
// tokenizers (pad <|endoftext|> and pad "!"), from vocab.json+merges.txt and from tokenizer.json.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/text/tokenizer.hpp"
#include "tests/support/reference.hpp"
#include "tiny_pipeline.hpp"

using namespace muse::model;

namespace {

// A copy of a tokenizer folder holding only tokenizer.json (+ configs), to test that form alone.
std::string fast_only_copy(const std::string& from, const std::string& name) {
  namespace fs = std::filesystem;
  const std::string dir = "/tmp/muse_tok_" + std::to_string(getpid()) + "_" + name;
  fs::create_directories(dir);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
    if (fs::exists(from + "/" + file))
      fs::copy_file(from + "/" + file, dir + "/" + file, fs::copy_options::overwrite_existing);
  return dir;
}

}  // namespace

TEST_CASE("tokenizer parity with transformers' CLIPTokenizer", "[parity][tokenizer]") {
  std::ifstream in(testing::data_dir() + "/tokenizer_parity.json");
  if (!in) {
    WARN("tests/data/tokenizer_parity.json absent");
    return;
  }
  const auto parity = nlohmann::json::parse(in);
  const std::string sd1_dir = testing::data_dir() + "/tiny-sd/tokenizer";
  const std::string sd2_dir = testing::data_dir() + "/tiny-sd2/tokenizer";
  std::vector<std::pair<std::string, clip_tokenizer>> sd1, sd2;
  sd1.emplace_back("vocab+merges", clip_tokenizer::load(sd1_dir));
  sd2.emplace_back("vocab+merges", clip_tokenizer::load(sd2_dir));
  if (std::ifstream(sd1_dir + "/tokenizer.json")) {
    const auto copy = fast_only_copy(sd1_dir, "sd1");
    sd1.emplace_back("tokenizer.json", clip_tokenizer::load(copy));
    testing::remove_tree(copy);
  }
  if (std::ifstream(sd2_dir + "/tokenizer.json")) {
    const auto copy = fast_only_copy(sd2_dir, "sd2");
    sd2.emplace_back("tokenizer.json", clip_tokenizer::load(copy));
    testing::remove_tree(copy);
  }
  int cases = 0;
  for (const auto& c : parity.at("cases")) {
    const auto text = c.at("text").get<std::string>();
    INFO("text: " << text);
    for (const auto& [form, tok] : sd1) {
      INFO("tiny-sd " << form);
      CHECK(tok.encode(text) == c.at("input_ids").get<std::vector<int64_t>>());
    }
    for (const auto& [form, tok] : sd2) {
      INFO("tiny-sd2 " << form);
      CHECK(tok.encode(text) == c.at("tiny-sd2_input_ids").get<std::vector<int64_t>>());
    }
    ++cases;
  }
  CHECK(cases >= 50);
}
