#pragma once
// CLIP's byte-level BPE tokenizer, as transformers' CLIPTokenizer runs it without ftfy: special
// tokens split out first, then NFC, whitespace runs to one space, lower-casing, CLIP's
// pre-tokenizing pattern, BPE with "</w>" word ends; <|startoftext|> ... <|endoftext|> padded
// with the pad token and truncated to 77.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace muse::model {

class clip_tokenizer {
 public:
  // vocab: token -> id; merges: ranked pairs (first = highest priority).
  clip_tokenizer(std::unordered_map<std::string, int64_t> vocab,
                 std::vector<std::pair<std::string, std::string>> merges,
                 std::string pad_token = "<|endoftext|>", int max_length = 77);

  // A tokenizer/ directory: vocab.json + merges.txt, or tokenizer.json; tokenizer_config.json
  // and special_tokens_map.json (pad token, model_max_length) when present.
  static clip_tokenizer load(const std::string& dir);

  // Token ids without BOS/EOS or padding.
  std::vector<int64_t> tokenize(const std::string& text) const;
  // BOS + ids (truncated) + EOS, padded with the pad token to max_length().
  std::vector<int64_t> encode(const std::string& text) const;

  int max_length() const { return max_length_; }
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }

  // The text the pre-tokenizer sees: NFC, whitespace runs -> " ", lower-cased (exposed for tests).
  static std::string normalize(const std::string& text);
  // CLIP's pre-tokenizing pattern applied to normalized text (exposed for tests).
  static std::vector<std::string> pre_tokenize(const std::string& text);

 private:
  struct added_token {
    std::string content;
    int64_t id;
    bool normalized;  // matched in normalized text (else in the raw text)
  };
  std::vector<std::string> bpe(const std::string& word) const;
  void tokenize_normalized(const std::string& text, std::vector<int64_t>& ids) const;
  void tokenize_plain(const std::string& text, std::vector<int64_t>& ids) const;
  int64_t id_of(const std::string& token) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::map<std::pair<std::string, std::string>, size_t> ranks_;
  int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0;
  int max_length_ = 77;
  // Special tokens are cut out before BPE; a pad token other than <|endoftext|> (SD2's "!") is
  // one of them, as transformers registers it.
  std::vector<added_token> added_;
  mutable std::unique_ptr<std::mutex> cache_mutex_ = std::make_unique<std::mutex>();
  mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
};

}  // namespace muse::model
