#pragma once
// The Unicode operations CLIP's tokenizer needs, with tables generated from Unicode's data
// (model/unicode_tables.py): letter/number classes, lower-casing, NFC.

#include <string>

namespace muse::model::unicode {

// Invalid UTF-8 bytes decode to U+FFFD.
std::u32string decode_utf8(const std::string& text);
std::string encode_utf8(const std::u32string& text);

bool is_letter(char32_t cp);     // \p{L}
bool is_number(char32_t cp);     // \p{N}
bool is_space(char32_t cp);      // \s: the White_Space property
char32_t to_lower(char32_t cp);  // simple (one-to-one) lower-case mapping
// Canonical composition (NFC) of text whose marks follow their base characters.
std::u32string nfc(const std::u32string& text);

}  // namespace muse::model::unicode
