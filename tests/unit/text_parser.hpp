#pragma once
// A strict little parser for the text exposition formats, used by tests to
// compare samples rather than bytes.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vigil_test {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> help;  // family -> unescaped help
  std::map<std::string, std::string> type;  // family -> type
  bool has_eof = false;
};

/// Parses `text`; throws std::runtime_error with the offending line on any
/// syntax error.
Exposition parse_exposition(std::string_view text);

/// `name{a="x",b="y"}` with labels sorted: a key for comparing samples.
std::string sample_key(const Sample& sample);

}  // namespace vigil_test
