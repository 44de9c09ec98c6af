#include "http/base64.hpp"

#include <catch2/catch.hpp>
#include <set>

#include "http/random_ids.hpp"

TEST_CASE("base64 follows RFC 4648's test vectors", "[base64]") {
  using muse::http::base64_encode;
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\x00\xff\xfe", 3)) == "AP/+");
}

TEST_CASE("base64 decodes what it encodes and refuses what is not base64", "[base64]") {
  using muse::http::base64_decode;
  using muse::http::base64_encode;
  for (const std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    CHECK(base64_decode(base64_encode(text)) == text);
    // Padding may be left out.
    auto unpadded = base64_encode(text);
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    CHECK(base64_decode(unpadded) == text);
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += char(i);
  CHECK(base64_decode(base64_encode(bytes)) == bytes);
  for (const char* bad :
       {"Z", "Zg=", "Zg=a", "Z===", "Zm9v!", "Zm 9v", "Zm9v\n", "=Zg=", "Zh==", "Zm9=", "Zm9vYg=x"})
    CHECK_FALSE(base64_decode(bad).has_value());
}

TEST_CASE("request ids are 24 hex digits and do not repeat", "[random_ids]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = muse::http::new_request_id();
    REQUIRE(id.size() == 24);
    REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("random seeds stay within their bound", "[random_ids]") {
  for (int i = 0; i < 1000; ++i) REQUIRE(muse::http::random_seed(10) <= 10);
  std::set<uint64_t> seen;
  for (int i = 0; i < 100; ++i) seen.insert(muse::http::random_seed(uint64_t(1) << 53));
  CHECK(seen.size() > 90);
}
