// vigil::LogLine writes one valid UTF-8 JSON object per event, whatever
// bytes its fields carry: a client's bad bytes must never make a log line
// that a JSON or UTF-8 reader rejects.
#include <gtest/gtest.h>

#include <string>
#include <vector>
#include <vigil/log.hpp>

namespace {

std::string line_with(std::string_view value) {
  std::string out;
  const vigil::LogSink sink = [&](std::string_view line) { out = line; };
  vigil::LogLine(sink, "warn", "test", "odd_input").field("value", value).emit();
  return out;
}

/// The JSON string after "value": in `line`.
std::string value_of(const std::string& line) {
  const auto at = line.find("\"value\":");
  return line.substr(at + 8, line.size() - at - 9);
}

TEST(LogLine, WellFormedUtf8PassesThrough) {
  EXPECT_EQ(value_of(line_with("plain")), "\"plain\"");
  EXPECT_EQ(value_of(line_with("ação ✓ 😀")), "\"ação ✓ 😀\"");
  EXPECT_EQ(value_of(line_with("q\"b\\n\n\x01")), R"("q\"b\\n\n\u0001")");
}

TEST(LogLine, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xff\xfe", R"("\ufffd\ufffd")"},
      {"a\x80z", R"("a\ufffdz")"},           // stray continuation byte
      {"\xc3", R"("\ufffd")"},               // truncated at the end
      {"\xc3(", R"("\ufffd(")"},             // truncated before ASCII
      {"\xc0\xaf", R"("\ufffd\ufffd")"},     // overlong '/'
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},  // a surrogate
      {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // > U+10FFFF
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(value_of(line_with(input)), expected) << expected;
  }
}

}  // namespace
