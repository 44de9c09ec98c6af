#include "model/text/tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/generator.hpp"
#include "model/text/unicode.hpp"

namespace muse::model {

namespace {

const std::string bos_token = "<|startoftext|>";
const std::string eos_token = "<|endoftext|>";
// CLIPTokenizer reads merges.txt lines [1, 49152 - 256 - 2 + 1): the vocabulary's merge budget.
constexpr size_t max_merges = 49152 - 256 - 2;

// GPT-2's reversible byte -> printable code point table.
const std::vector<std::string>& byte_symbols() {
  static const std::vector<std::string> table = [] {
    std::vector<int> code(256, -1);
    for (int b = '!'; b <= '~'; ++b) code[b] = b;
    for (int b = 0xA1; b <= 0xAC; ++b) code[b] = b;
    for (int b = 0xAE; b <= 0xFF; ++b) code[b] = b;
    int next = 256;
    for (int b = 0; b < 256; ++b)
      if (code[b] < 0) code[b] = next++;
    std::vector<std::string> out(256);
    for (int b = 0; b < 256; ++b) out[b] = unicode::encode_utf8({static_cast<char32_t>(code[b])});
    return out;
  }();
  return table;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw model_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path + ": " + e.what());
  }
}

// A special token entry is either "text" or {"content": "text", ...}.
std::string token_text(const nlohmann::json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content")) return entry.at("content").get<std::string>();
  return "";
}

std::pair<std::string, std::string> split_merge(const std::string& line, const std::string& where) {
  const auto space = line.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 >= line.size())
    throw model_error(where + ": bad merge '" + line + "'");
  return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace

clip_tokenizer::clip_tokenizer(std::unordered_map<std::string, int64_t> vocab,
                               std::vector<std::pair<std::string, std::string>> merges,
                               std::string pad_token, int max_length)
    : vocab_(std::move(vocab)), max_length_(max_length) {
  for (size_t i = 0; i < merges.size(); ++i) ranks_.emplace(merges[i], i);
  auto required = [&](const std::string& token) {
    auto it = vocab_.find(token);
    if (it == vocab_.end())
      throw model_error("tokenizer vocabulary lacks the token '" + token + "'");
    return it->second;
  };
  bos_id_ = required(bos_token);
  eos_id_ = required(eos_token);
  unk_id_ = eos_id_;
  pad_id_ = required(pad_token);
  if (max_length_ < 2) throw model_error("tokenizer max length must be at least 2");
  added_ = {{bos_token, bos_id_, true}, {eos_token, eos_id_, true}};
  if (pad_token != bos_token && pad_token != eos_token)
    added_.push_back({pad_token, pad_id_, false});
  // Longest first, so that a token containing another wins.
  std::sort(added_.begin(), added_.end(), [](const added_token& a, const added_token& b) {
    return a.content.size() > b.content.size();
  });
}

clip_tokenizer clip_tokenizer::load(const std::string& dir) {
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  const auto vocab_path = dir + "/vocab.json", merges_path = dir + "/merges.txt",
             fast_path = dir + "/tokenizer.json";
  if (file_exists(vocab_path) && file_exists(merges_path)) {
    const auto vocab_json = read_json(vocab_path);
    for (const auto& [token, id] : vocab_json.items()) vocab.emplace(token, id.get<int64_t>());
    std::istringstream lines(read_file(merges_path));
    std::string line;
    bool first = true;
    while (std::getline(lines, line) && merges.size() < max_merges) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (first && line.rfind("#version", 0) == 0) {
        first = false;
        continue;
      }
      first = false;
      if (line.empty()) continue;
      merges.push_back(split_merge(line, merges_path));
    }
  } else if (file_exists(fast_path)) {
    const auto json = read_json(fast_path);
    const auto& model = json.at("model");
    if (model.value("type", "BPE") != "BPE")
      throw model_error(fast_path + ": model type is not BPE");
    for (const auto& [token, id] : model.at("vocab").items())
      vocab.emplace(token, id.get<int64_t>());
    for (const auto& merge : model.at("merges")) {
      if (merge.is_string())
        merges.push_back(split_merge(merge.get<std::string>(), fast_path));
      else if (merge.is_array() && merge.size() == 2)
        merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      else
        throw model_error(fast_path + ": bad merge entry " + merge.dump());
    }
    if (json.contains("added_tokens"))
      for (const auto& added : json.at("added_tokens"))
        vocab.emplace(added.at("content").get<std::string>(), added.at("id").get<int64_t>());
  } else {
    throw model_error(dir + ": no vocab.json + merges.txt nor tokenizer.json");
  }

  std::string pad = eos_token;
  int max_length = 77;
  const auto map_path = dir + "/special_tokens_map.json",
             config_path = dir + "/tokenizer_config.json";
  if (file_exists(map_path)) {
    const auto map = read_json(map_path);
    if (map.contains("pad_token") && !token_text(map.at("pad_token")).empty())
      pad = token_text(map.at("pad_token"));
  }
  if (file_exists(config_path)) {
    const auto config = read_json(config_path);
    if (config.contains("pad_token") && !token_text(config.at("pad_token")).empty())
      pad = token_text(config.at("pad_token"));
    if (config.contains("model_max_length") && config.at("model_max_length").is_number()) {
      // Unset lengths are saved as a huge sentinel (1e30); CLIP's position table is 77 long.
      const double length = config.at("model_max_length").get<double>();
      if (length >= 2 && length <= 4096) max_length = static_cast<int>(length);
    }
  }
  return clip_tokenizer(std::move(vocab), std::move(merges), pad, max_length);
}

std::string clip_tokenizer::normalize(const std::string& text) {
  std::u32string out;
  bool in_space = false;
  for (char32_t cp : unicode::nfc(unicode::decode_utf8(text))) {
    if (unicode::is_space(cp)) {
      if (!in_space) out.push_back(U' ');
      in_space = true;
    } else {
      out.push_back(unicode::to_lower(cp));
      in_space = false;
    }
  }
  return unicode::encode_utf8(out);
}

std::vector<std::string> clip_tokenizer::pre_tokenize(const std::string& text) {
  // <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
  static const std::vector<std::u32string> specials = {U"<|startoftext|>", U"<|endoftext|>"};
  static const std::vector<std::u32string> contractions = {U"s", U"t",  U"re", U"ve",
                                                           U"m", U"ll", U"d"};
  const auto cps = unicode::decode_utf8(text);
  std::vector<std::string> pieces;
  size_t i = 0;
  auto starts_with = [&](size_t at, const std::u32string& s) {
    if (at + s.size() > cps.size()) return false;
    for (size_t k = 0; k < s.size(); ++k)
      if (unicode::to_lower(cps[at + k]) != s[k]) return false;
    return true;
  };
  while (i < cps.size()) {
    const char32_t cp = cps[i];
    size_t end = i;
    for (const auto& special : specials)
      if (end == i && starts_with(i, special)) end = i + special.size();
    if (end == i && cp == U'\'')
      for (const auto& tail : contractions)
        if (end == i && starts_with(i + 1, tail)) end = i + 1 + tail.size();
    if (end == i) {
      if (unicode::is_letter(cp)) {
        while (end < cps.size() && unicode::is_letter(cps[end])) ++end;
      } else if (unicode::is_number(cp)) {
        end = i + 1;
      } else if (unicode::is_space(cp)) {
        ++i;
        continue;
      } else {
        while (end < cps.size() && !unicode::is_space(cps[end]) && !unicode::is_letter(cps[end]) &&
               !unicode::is_number(cps[end]))
          ++end;
      }
    }
    pieces.push_back(unicode::encode_utf8(cps.substr(i, end - i)));
    i = end;
  }
  return pieces;
}

std::vector<std::string> clip_tokenizer::bpe(const std::string& token) const {
  if (token == bos_token || token == eos_token) return {token};
  {
    std::lock_guard<std::mutex> lock(*cache_mutex_);
    auto it = cache_.find(token);
    if (it != cache_.end()) return it->second;
  }
  std::vector<std::string> word;
  for (unsigned char byte : token) word.push_back(byte_symbols()[byte]);
  // byte_symbols() entries are whole code points, so the last one is the last character.
  word.back() += "</w>";
  while (word.size() > 1) {
    size_t best_rank = std::numeric_limits<size_t>::max();
    std::pair<std::string, std::string> best;
    for (size_t k = 0; k + 1 < word.size(); ++k) {
      auto it = ranks_.find({word[k], word[k + 1]});
      if (it != ranks_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = it->first;
      }
    }
    if (best_rank == std::numeric_limits<size_t>::max()) break;
    std::vector<std::string> merged;
    for (size_t k = 0; k < word.size();) {
      if (k + 1 < word.size() && word[k] == best.first && word[k + 1] == best.second) {
        merged.push_back(word[k] + word[k + 1]);
        k += 2;
      } else {
        merged.push_back(word[k++]);
      }
    }
    word = std::move(merged);
  }
  std::lock_guard<std::mutex> lock(*cache_mutex_);
  if (cache_.size() > 100000) cache_.clear();
  cache_.emplace(token, word);
  return word;
}

int64_t clip_tokenizer::id_of(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? unk_id_ : it->second;
}

namespace {

// Calls on_text for the stretches between occurrences of the tokens and on_token at each one.
template <typename Token, typename OnText, typename OnToken>
void split_on(const std::string& text, const std::vector<const Token*>& tokens, OnText on_text,
              OnToken on_token) {
  size_t start = 0, at = 0;
  while (at < text.size()) {
    const Token* found = nullptr;
    for (const auto* token : tokens)
      if (text.compare(at, token->content.size(), token->content) == 0) {
        found = token;
        break;
      }
    if (!found) {
      ++at;
      continue;
    }
    if (at > start) on_text(text.substr(start, at - start));
    on_token(*found);
    at += found->content.size();
    start = at;
  }
  if (start < text.size()) on_text(text.substr(start));
}

}  // namespace

void clip_tokenizer::tokenize_plain(const std::string& text, std::vector<int64_t>& ids) const {
  for (const auto& piece : pre_tokenize(text))
    for (const auto& sub : bpe(piece)) ids.push_back(id_of(sub));
}

void clip_tokenizer::tokenize_normalized(const std::string& text, std::vector<int64_t>& ids) const {
  std::vector<const added_token*> tokens;
  for (const auto& token : added_)
    if (token.normalized) tokens.push_back(&token);
  split_on(
      normalize(text), tokens, [&](const std::string& part) { tokenize_plain(part, ids); },
      [&](const added_token& token) { ids.push_back(token.id); });
}

std::vector<int64_t> clip_tokenizer::tokenize(const std::string& text) const {
  std::vector<int64_t> ids;
  std::vector<const added_token*> raw;
  for (const auto& token : added_)
    if (!token.normalized) raw.push_back(&token);
  split_on(
      text, raw, [&](const std::string& part) { tokenize_normalized(part, ids); },
      [&](const added_token& token) { ids.push_back(token.id); });
  return ids;
}

std::vector<int64_t> clip_tokenizer::encode(const std::string& text) const {
  auto body = tokenize(text);
  const size_t room = static_cast<size_t>(max_length_) - 2;
  if (body.size() > room) body.resize(room);
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(max_length_));
  ids.push_back(bos_id_);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(eos_id_);
  ids.resize(static_cast<size_t>(max_length_), pad_id_);
  return ids;
}

}  // namespace muse::model
