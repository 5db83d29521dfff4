// The statistics parser: valid JSON in all its forms, and the malformed input
// it must refuse rather than misread.
#include "vigil/kafka/json.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using vigil::kafka::JsonValue;
using vigil::kafka::parse_json;

TEST(Json, ParsesNestedDocuments) {
  const auto doc = parse_json(R"( {"name": "rdkafka#consumer-1", "n": -12.5e1,
      "ok": true, "no": false, "nil": null, "list": [1, [2, {}], "x"],
      "brokers": {"b:9092/1": {"rtt": {"avg": 1500}}}} )");
  ASSERT_TRUE(doc);
  ASSERT_TRUE(doc->is_object());
  EXPECT_EQ(doc->find("name")->string(), "rdkafka#consumer-1");
  EXPECT_EQ(doc->number_at("n"), -125);
  EXPECT_TRUE(doc->find("ok")->boolean());
  EXPECT_FALSE(doc->find("no")->boolean());
  EXPECT_EQ(doc->find("nil")->type(), JsonValue::Type::kNull);
  const auto& list = doc->find("list")->items();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1].items()[1].type(), JsonValue::Type::kObject);
  EXPECT_EQ(
      doc->find("brokers")->find("b:9092/1")->find("rtt")->number_at("avg"),
      1500);
  EXPECT_EQ(doc->find("missing"), nullptr);
  EXPECT_EQ(doc->number_at("missing", 7), 7);
  EXPECT_EQ(doc->number_at("name", 7), 7);  // not a number
}

TEST(Json, DecodesEscapesToUtf8) {
  const auto doc =
      parse_json(R"(["a\"b\\c\/\b\f\n\r\t", "\u00e9\u20ac\ud83d\ude00"])");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->items()[0].string(), "a\"b\\c/\b\f\n\r\t");
  EXPECT_EQ(doc->items()[1].string(), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(Json, RejectsMalformedInput) {
  for (const char* bad : {"",
                          "{",
                          "[1,]",
                          "{\"a\":1,}",
                          "{\"a\" 1}",
                          "{1:2}",
                          "01",
                          "1.",
                          ".5",
                          "-",
                          "1e",
                          "+1",
                          "nan",
                          "inf",
                          "0x10",
                          "tru",
                          "nul",
                          "\"abc",
                          "\"\\x\"",
                          "\"\\u12\"",
                          "\"\\ud83d\"",
                          "\"\\ude00\"",
                          "\"a\x01\"",
                          "1 2",
                          "{} x",
                          "[1e999]"}) {
    EXPECT_FALSE(parse_json(bad)) << bad;
  }
}

TEST(Json, BoundsNesting) {
  std::string deep(64, '[');
  deep += std::string(64, ']');
  EXPECT_TRUE(parse_json(deep));
  std::string deeper(65, '[');
  deeper += std::string(65, ']');
  EXPECT_FALSE(parse_json(deeper));
  // Far deeper than any stack could recurse: refused, not a crash.
  EXPECT_FALSE(parse_json(std::string(1000000, '[')));
}

}  // namespace
