#include "multipart.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using chat::MultipartParser;
using chat::PartHeaders;

/// Records every event as the parser reports it.
class Recorder : public chat::MultipartHandler {
 public:
  struct Part {
    PartHeaders headers;
    std::string data;
    bool ended = false;
  };
  bool on_part_begin(const PartHeaders& part, std::string&) override {
    parts.push_back({part, {}, false});
    return true;
  }
  bool on_part_data(std::string_view data, std::string& why) override {
    EXPECT_FALSE(parts.empty());
    EXPECT_FALSE(data.empty());
    parts.back().data.append(data);
    if (parts.back().data.size() > max_data) {
      why = "too much";
      return false;
    }
    return true;
  }
  bool on_part_end(std::string&) override {
    parts.back().ended = true;
    return true;
  }
  std::vector<Part> parts;
  std::size_t max_data = SIZE_MAX;
};

const std::string kBoundary = "----XyZ123";

std::string form(const std::string& file_data,
                 const std::string& filename = "a.txt") {
  return "--" + kBoundary +
         "\r\nContent-Disposition: form-data; name=\"conversation_id\"\r\n\r\n"
         "c1\r\n--" +
         kBoundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
         filename + "\"\r\nContent-Type: text/plain\r\n\r\n" + file_data +
         "\r\n--" + kBoundary + "--\r\n";
}

TEST(MultipartBoundary, ComesFromTheContentType) {
  EXPECT_EQ(chat::multipart_boundary("multipart/form-data; boundary=abc"),
            "abc");
  EXPECT_EQ(chat::multipart_boundary(
                "Multipart/Form-Data;boundary=\"a b:c\"; charset=utf-8"),
            "a b:c");
  EXPECT_FALSE(chat::multipart_boundary("multipart/form-data"));
  EXPECT_FALSE(chat::multipart_boundary("multipart/mixed; boundary=abc"));
  EXPECT_FALSE(chat::multipart_boundary("application/json"));
  EXPECT_FALSE(chat::multipart_boundary("multipart/form-data; boundary="));
  EXPECT_FALSE(chat::multipart_boundary("multipart/form-data; boundary=" +
                                        std::string(71, 'a')));
  EXPECT_FALSE(
      chat::multipart_boundary("multipart/form-data; boundary=\"a \""));
  EXPECT_FALSE(chat::multipart_boundary("multipart/form-data; boundary=a\x01"));
}

TEST(MultipartParser, ParsesAFormInOneFeed) {
  Recorder r;
  MultipartParser parser(kBoundary, r);
  ASSERT_TRUE(parser.feed(form("hello\r\nworld"))) << parser.error();
  EXPECT_TRUE(parser.done());
  ASSERT_EQ(r.parts.size(), 2u);
  EXPECT_EQ(r.parts[0].headers.name, "conversation_id");
  EXPECT_FALSE(r.parts[0].headers.has_filename);
  EXPECT_EQ(r.parts[0].data, "c1");
  EXPECT_EQ(r.parts[1].headers.name, "file");
  EXPECT_EQ(r.parts[1].headers.filename, "a.txt");
  EXPECT_TRUE(r.parts[1].headers.has_filename);
  EXPECT_EQ(r.parts[1].headers.content_type, "text/plain");
  EXPECT_EQ(r.parts[1].data, "hello\r\nworld");
  EXPECT_TRUE(r.parts[1].ended);
}

TEST(MultipartParser, EverySplitOfTheBodyGivesTheSameParts) {
  // Content that nearly contains the delimiter, so a split inside the real
  // one must not be mistaken for data or the other way round.
  const std::string data = "x\r\n--" + kBoundary.substr(0, 5) + "\r\n-\r";
  const std::string body = form(data);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    for (std::size_t second = cut; second <= body.size(); second += 7) {
      Recorder r;
      MultipartParser parser(kBoundary, r);
      ASSERT_TRUE(parser.feed(body.substr(0, cut)));
      ASSERT_TRUE(parser.feed(body.substr(cut, second - cut)));
      ASSERT_TRUE(parser.feed(body.substr(second))) << parser.error();
      ASSERT_TRUE(parser.done()) << cut << "/" << second;
      ASSERT_EQ(r.parts.size(), 2u);
      EXPECT_EQ(r.parts[1].data, data) << cut << "/" << second;
    }
  }
}

TEST(MultipartParser, ByteByByteFeedsWork) {
  const std::string body = form(std::string(1000, 'z'));
  Recorder r;
  MultipartParser parser(kBoundary, r);
  for (char c : body) ASSERT_TRUE(parser.feed(std::string_view(&c, 1)));
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(r.parts[1].data, std::string(1000, 'z'));
}

TEST(MultipartParser, PreambleEpilogueAndPaddingAreIgnored) {
  const std::string body = "preamble\r\n--" + kBoundary +
                           " \t\r\nContent-Disposition: form-data; name=x\r\n"
                           "\r\nv\r\n--" +
                           kBoundary + "--\r\nepilogue --" + kBoundary;
  Recorder r;
  MultipartParser parser(kBoundary, r);
  ASSERT_TRUE(parser.feed(body)) << parser.error();
  EXPECT_TRUE(parser.done());
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0].headers.name, "x");
  EXPECT_EQ(r.parts[0].data, "v");
}

TEST(MultipartParser, EmptyPartsAndQuotedEscapes) {
  const std::string body = "--" + kBoundary +
                           "\r\nContent-Disposition: form-data; name=\"f\"; "
                           "filename=\"a\\\"b\\\\c\"\r\n\r\n\r\n--" +
                           kBoundary + "--";
  Recorder r;
  MultipartParser parser(kBoundary, r);
  ASSERT_TRUE(parser.feed(body)) << parser.error();
  EXPECT_TRUE(parser.done());
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0].headers.filename, "a\"b\\c");
  EXPECT_EQ(r.parts[0].data, "");
  EXPECT_TRUE(r.parts[0].ended);
}

TEST(MultipartParser, TruncatedBodyIsNotDone) {
  const std::string body = form("data");
  Recorder r;
  MultipartParser parser(kBoundary, r);
  ASSERT_TRUE(parser.feed(body.substr(0, body.size() - 4)));
  EXPECT_FALSE(parser.done());
  EXPECT_FALSE(parser.failed());
}

TEST(MultipartParser, MalformedBodiesFail) {
  const std::string open = "--" + kBoundary + "\r\n";
  const std::vector<std::string> bad = {
      open + "Content-Disposition: attachment; name=x\r\n\r\nv",
      open + "Content-Type: text/plain\r\n\r\nv",
      open + "no colon\r\n\r\nv",
      open + "Content-Disposition: form-data; name=\"x\r\n\r\nv",
      "--" + kBoundary + "junk\r\n",
      "--" + kBoundary + "--",
  };
  for (const auto& body : bad) {
    Recorder r;
    MultipartParser parser(kBoundary, r);
    EXPECT_FALSE(parser.feed(body + "\r\n--" + kBoundary + "--")) << body;
    EXPECT_TRUE(parser.failed());
    EXPECT_FALSE(parser.error().empty());
    EXPECT_FALSE(parser.feed("more")) << "a failed parser stays failed";
  }
}

TEST(MultipartParser, LimitsHeadersAndParts) {
  Recorder r;
  MultipartParser::Limits limits;
  limits.max_header_bytes = 100;
  limits.max_parts = 2;
  MultipartParser headers(kBoundary, r, limits);
  EXPECT_FALSE(
      headers.feed("--" + kBoundary + "\r\nX: " + std::string(200, 'a')));
  EXPECT_NE(headers.error().find("headers"), std::string::npos);

  std::string three;
  for (int i = 0; i < 3; ++i) {
    three += "--" + kBoundary +
             "\r\nContent-Disposition: form-data; name=p\r\n\r\nv\r\n";
  }
  Recorder r2;
  MultipartParser parts(kBoundary, r2, limits);
  EXPECT_FALSE(parts.feed(three));
  EXPECT_EQ(r2.parts.size(), 2u);
}

TEST(MultipartParser, HandlerCanStopIt) {
  Recorder r;
  r.max_data = 10;
  MultipartParser parser(kBoundary, r);
  EXPECT_FALSE(parser.feed(form(std::string(100, 'x'))));
  EXPECT_EQ(parser.error(), "too much");
}

TEST(MultipartParser, MemoryStaysBoundedForLargeParts) {
  // 64 MiB in 64 KiB feeds: the parser holds at most a feed plus a
  // delimiter, which the handler sees as small slices.
  class Counter : public chat::MultipartHandler {
   public:
    bool on_part_begin(const PartHeaders&, std::string&) override {
      return true;
    }
    bool on_part_data(std::string_view data, std::string&) override {
      total += data.size();
      largest = std::max(largest, data.size());
      return true;
    }
    bool on_part_end(std::string&) override { return true; }
    std::size_t total = 0;
    std::size_t largest = 0;
  } counter;
  MultipartParser parser(kBoundary, counter);
  ASSERT_TRUE(parser.feed(
      "--" + kBoundary + "\r\nContent-Disposition: form-data; name=f\r\n\r\n"));
  const std::string chunk(64 * 1024, 'q');
  for (int i = 0; i < 1024; ++i) ASSERT_TRUE(parser.feed(chunk));
  ASSERT_TRUE(parser.feed("\r\n--" + kBoundary + "--"));
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(counter.total, 64u * 1024 * 1024);
  EXPECT_LE(counter.largest, chunk.size() + kBoundary.size() + 4);
}

}  // namespace
