#include "model/text/unicode.hpp"

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

namespace muse::model::unicode {

namespace {

using range = std::pair<char32_t, char32_t>;
struct composition {
  char32_t first, second, composed;
};
struct class_range {
  char32_t first, last;
  int combining_class;
};

#include "model/text/unicode_tables.inc"

bool in_ranges(char32_t cp, const std::vector<range>& ranges) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](char32_t c, const range& r) { return c < r.first; });
  if (it == ranges.begin()) return false;
  --it;
  return cp <= it->second;
}

int combining_class(char32_t cp) {
  auto it = std::upper_bound(combining_classes.begin(), combining_classes.end(), cp,
                             [](char32_t c, const class_range& r) { return c < r.first; });
  if (it == combining_classes.begin()) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

// Hangul syllables compose arithmetically (Unicode 3.12).
constexpr char32_t s_base = 0xAC00, l_base = 0x1100, v_base = 0x1161, t_base = 0x11A7;
constexpr int l_count = 19, v_count = 21, t_count = 28, n_count = v_count * t_count,
              s_count = l_count * n_count;

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= l_base && a < l_base + l_count && b >= v_base && b < v_base + v_count)
    return s_base + ((a - l_base) * v_count + (b - v_base)) * t_count;
  if (a >= s_base && a < s_base + s_count && (a - s_base) % t_count == 0 && b > t_base &&
      b < t_base + t_count)
    return a + (b - t_base);
  auto it = std::lower_bound(compositions.begin(), compositions.end(), std::make_pair(a, b),
                             [](const composition& c, const std::pair<char32_t, char32_t>& key) {
                               return std::tie(c.first, c.second) < std::tie(key.first, key.second);
                             });
  if (it != compositions.end() && it->first == a && it->second == b) return it->composed;
  return 0;
}

}  // namespace

std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < text.size()) {
    const unsigned char lead = byte(i);
    int extra = 0;
    char32_t cp = 0;
    if (lead < 0x80) {
      cp = lead;
    } else if ((lead & 0xE0) == 0xC0 && lead >= 0xC2) {
      extra = 1;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0 && lead <= 0xF4) {
      extra = 3;
      cp = lead & 0x07;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    bool ok = true;
    for (int k = 1; ok && k <= extra; ++k) {
      if (i + k >= text.size() || (byte(i + k) & 0xC0) != 0x80)
        ok = false;
      else
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if (ok && ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
               (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))))
      ok = false;
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

std::string encode_utf8(const std::u32string& text) {
  std::string out;
  for (char32_t cp : text) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

bool is_letter(char32_t cp) { return in_ranges(cp, letter_ranges); }
bool is_number(char32_t cp) { return in_ranges(cp, number_ranges); }

bool is_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= U'A' && cp <= U'Z') ? cp + 32 : cp;
  auto it = std::lower_bound(
      lower_pairs.begin(), lower_pairs.end(), cp,
      [](const std::pair<char32_t, char32_t>& p, char32_t c) { return p.first < c; });
  return it != lower_pairs.end() && it->first == cp ? it->second : cp;
}

std::u32string nfc(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  size_t starter = std::u32string::npos;  // index in `out` of the last starter
  int last_class = 0;
  for (char32_t cp : text) {
    const int cls = combining_class(cp);
    if (starter != std::u32string::npos &&
        (last_class < cls || (last_class == 0 && out.size() == starter + 1))) {
      if (char32_t composed = compose_pair(out[starter], cp)) {
        out[starter] = composed;
        continue;
      }
    }
    if (cls == 0) {
      starter = out.size();
      last_class = 0;
    } else {
      last_class = cls;
    }
    out.push_back(cp);
  }
  return out;
}

}  // namespace muse::model::unicode
