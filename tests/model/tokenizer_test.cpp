#include "model/text/tokenizer.hpp"

#include <catch2/catch.hpp>
#include <fstream>

#include "model/generator.hpp"

using namespace muse::model;

namespace {

clip_tokenizer tiny_tokenizer(const std::string& pad = "<|endoftext|>", int max_length = 77) {
  std::unordered_map<std::string, int64_t> vocab;
  const std::vector<std::string> tokens = {
      "<|startoftext|>", "<|endoftext|>", "!",  "a",      "b",       "c",    "a</w>",
      "b</w>",           "c</w>",         "ab", "ab</w>", "abc</w>", ",</w>"};
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = static_cast<int64_t>(i);
  return clip_tokenizer(vocab, {{"a", "b"}, {"ab", "c</w>"}, {"a", "b</w>"}}, pad, max_length);
}

}  // namespace

TEST_CASE("normalize composes (NFC), collapses whitespace and lower-cases") {
  CHECK(clip_tokenizer::normalize("  Hello\tWORLD \n") == " hello world ");
  CHECK(clip_tokenizer::normalize("e\xCC\x81") == "\xC3\xA9");  // e + combining acute -> é
  CHECK(clip_tokenizer::normalize("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB") ==
        "\xED\x95\x9C");  // jamo -> 한
  CHECK(clip_tokenizer::normalize("\xE7\x8C\xAB\xE7\x8C\xAB") ==
        "\xE7\x8C\xAB\xE7\x8C\xAB");  // 猫猫
  CHECK(clip_tokenizer::normalize("\xD0\x9F\xD0\xA0\xD0\x98") ==
        "\xD0\xBF\xD1\x80\xD0\xB8");                                             // ПРИ -> при
  CHECK(clip_tokenizer::normalize("\xC3\x89T\xC3\x89") == "\xC3\xA9t\xC3\xA9");  // ÉTÉ -> été
  CHECK(clip_tokenizer::normalize("") == "");
}

TEST_CASE("pre_tokenize follows CLIP's pattern") {
  using v = std::vector<std::string>;
  CHECK(clip_tokenizer::pre_tokenize("it's a dog's 42 <|endoftext|>!!") ==
        v{"it", "'s", "a", "dog", "'s", "4", "2", "<|endoftext|>", "!!"});
  CHECK(clip_tokenizer::pre_tokenize("hello,world") == v{"hello", ",", "world"});
  CHECK(clip_tokenizer::pre_tokenize("!'s x'll") == v{"!'", "s", "x", "'ll"});
  CHECK(clip_tokenizer::pre_tokenize("caf\xC3\xA9 \xE2\x9C\xA8") ==
        v{"caf\xC3\xA9", "\xE2\x9C\xA8"});
}

TEST_CASE("BPE merges by rank and marks word ends") {
  auto tok = tiny_tokenizer();
  CHECK(tok.tokenize("abc") == std::vector<int64_t>{11});
  CHECK(tok.tokenize("ab") == std::vector<int64_t>{10});
  CHECK(tok.tokenize("ba") == std::vector<int64_t>{4, 6});
  CHECK(tok.tokenize("ABC, a") == std::vector<int64_t>{11, 12, 6});
  // Unknown pieces map to <|endoftext|>, CLIP's unknown token.
  CHECK(tok.tokenize("z") == std::vector<int64_t>{1});
}

TEST_CASE("encode adds BOS/EOS, pads with the pad token and truncates") {
  auto tok = tiny_tokenizer();
  auto ids = tok.encode("abc ab");
  REQUIRE(ids.size() == 77);
  CHECK(ids[0] == 0);
  CHECK(ids[1] == 11);
  CHECK(ids[2] == 10);
  CHECK(ids[3] == 1);
  CHECK(ids[76] == 1);

  auto bang = tiny_tokenizer("!", 8);
  CHECK(bang.encode("ab") == std::vector<int64_t>{0, 10, 1, 2, 2, 2, 2, 2});
  std::string long_text;
  for (int i = 0; i < 20; ++i) long_text += "abc ";
  auto cut = bang.encode(long_text);
  CHECK(cut == std::vector<int64_t>{0, 11, 11, 11, 11, 11, 11, 1});
  CHECK(bang.encode("") == std::vector<int64_t>{0, 1, 2, 2, 2, 2, 2, 2});
  // A pad token other than <|endoftext|> is a special token: cut out before BPE, ending the word.
  CHECK(bang.tokenize("ab!ab") == std::vector<int64_t>{10, 2, 10});
  CHECK(tiny_tokenizer().tokenize("ab<|endoftext|>c") == std::vector<int64_t>{10, 1, 8});
}

TEST_CASE("a tokenizer needs its special tokens") {
  std::unordered_map<std::string, int64_t> vocab = {{"a", 0}};
  CHECK_THROWS_AS(clip_tokenizer(vocab, {}), model_error);
  CHECK_THROWS_AS(clip_tokenizer::load("/nonexistent"), model_error);
}

TEST_CASE("the test pipelines' tokenizers load with their pad tokens") {
  const std::string sd1 = std::string(MUSE_TEST_DATA_DIR) + "/tiny-sd/tokenizer";
  const std::string sd2 = std::string(MUSE_TEST_DATA_DIR) + "/tiny-sd2/tokenizer";
  if (!std::ifstream(sd1 + "/vocab.json") || !std::ifstream(sd2 + "/vocab.json")) {
    WARN("tests/data tokenizers absent");
    return;
  }
  auto one = clip_tokenizer::load(sd1);
  auto two = clip_tokenizer::load(sd2);
  CHECK(one.max_length() == 77);
  CHECK(one.pad_id() == one.eos_id());
  CHECK(two.pad_id() != two.eos_id());
  CHECK(two.encode("a photo").back() == two.pad_id());
}
