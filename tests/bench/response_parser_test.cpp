#include "tools/bench/response_parser.hpp"

#include <catch2/catch.hpp>

using namespace muse::bench;

namespace {
// Feeds the text in pieces of `step` bytes, as a socket might deliver it.
size_t feed_in_pieces(response_parser& parser, const std::string& text, size_t step) {
  size_t used = 0;
  while (used < text.size() && !parser.done()) {
    const size_t n = std::min(step, text.size() - used);
    const size_t took = parser.feed(text.data() + used, n);
    used += took;
    if (took < n) break;
  }
  return used;
}
}  // namespace

TEST_CASE("a Content-Length response, whole or a byte at a time") {
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: "
      "11\r\n\r\n{\"a\":12345}";
  for (size_t step : {size_t(1), size_t(3), size_t(7), response.size()}) {
    response_parser parser;
    CHECK(feed_in_pieces(parser, response, step) == response.size());
    REQUIRE(parser.done());
    CHECK(parser.status() == 200);
    CHECK(parser.keep_alive());
    CHECK(parser.body_bytes() == 11);
  }
}

TEST_CASE("a chunked response with extensions and trailers") {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n5;name=x\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t step : {size_t(1), size_t(4), response.size()}) {
    response_parser parser;
    CHECK(feed_in_pieces(parser, response, step) == response.size());
    REQUIRE(parser.done());
    CHECK(parser.body_bytes() == 15);
    CHECK(parser.keep_alive());
  }
}

TEST_CASE("completion stops at the end of the response") {
  const std::string response = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n";
  response_parser parser;
  CHECK(parser.feed(response.data(), response.size()) == 27);
  CHECK(parser.done());
  CHECK(parser.status() == 204);
}

TEST_CASE("a body framed by the end of the connection") {
  response_parser parser;
  const std::string head = "HTTP/1.1 200 OK\r\n\r\npartial body";
  parser.feed(head.data(), head.size());
  CHECK_FALSE(parser.done());
  parser.end_of_stream();
  CHECK(parser.done());
  CHECK_FALSE(parser.keep_alive());
  CHECK(parser.body_bytes() == 12);
}

TEST_CASE("Connection: close and HTTP/1.0 end the connection") {
  response_parser close;
  const std::string a =
      "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n";
  close.feed(a.data(), a.size());
  CHECK(close.done());
  CHECK_FALSE(close.keep_alive());

  response_parser old;
  const std::string b = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
  old.feed(b.data(), b.size());
  CHECK(old.done());
  CHECK_FALSE(old.keep_alive());
}

TEST_CASE("interim 1xx responses are skipped") {
  response_parser parser;
  const std::string text =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx";
  CHECK(parser.feed(text.data(), text.size()) == text.size());
  CHECK(parser.done());
  CHECK(parser.status() == 201);
}

TEST_CASE("error bodies keep a short prefix to explain the failure") {
  response_parser parser;
  const std::string body =
      R"({"error":{"code":"queue_full","message":"try later"}})" + std::string(1000, ' ');
  const std::string text =
      "HTTP/1.1 429 Too Many Requests\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  parser.feed(text.data(), text.size());
  CHECK(parser.done());
  CHECK(parser.status() == 429);
  CHECK(parser.body_prefix().rfind(R"({"error":{"code":"queue_full")", 0) == 0);
  CHECK(parser.body_prefix().size() == response_parser::kept_error_body_bytes);
}

TEST_CASE("malformed responses are protocol errors") {
  const std::vector<std::string> bad = {
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTX/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 abc OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n",
  };
  for (const auto& text : bad) {
    INFO(text);
    response_parser parser;
    CHECK_THROWS_AS(parser.feed(text.data(), text.size()), protocol_error);
  }
  response_parser huge;
  const std::string head = "HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a');
  CHECK_THROWS_AS(huge.feed(head.data(), head.size()), protocol_error);
}

TEST_CASE("a connection closed mid-response is an error") {
  response_parser parser;
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  parser.feed(text.data(), text.size());
  CHECK_THROWS_AS(parser.end_of_stream(), protocol_error);
  response_parser nothing;
  CHECK_FALSE(nothing.started());
  CHECK_THROWS_AS(nothing.end_of_stream(), protocol_error);
}
