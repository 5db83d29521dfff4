#include "text_parser.hpp"

#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace vigil_test {
namespace {

[[noreturn]] void fail(std::string_view line, const char* why) {
  throw std::runtime_error(std::string(why) + ": " + std::string(line));
}

std::string unescape(std::string_view in, std::string_view line) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out += in[i];
      continue;
    }
    if (++i == in.size()) fail(line, "dangling backslash");
    switch (in[i]) {
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case '"':
        out += '"';
        break;
      default:
        fail(line, "unknown escape");
    }
  }
  return out;
}

double parse_value(std::string_view text, std::string_view line) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  std::string copy(text);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || *end != '\0') fail(line, "bad value");
  return v;
}

Sample parse_sample(std::string_view line) {
  Sample sample;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  sample.name = std::string(line.substr(0, i));
  if (sample.name.empty()) fail(line, "missing name");
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const std::size_t eq = line.find('=', i);
      if (eq == std::string_view::npos || eq + 1 >= line.size() ||
          line[eq + 1] != '"') {
        fail(line, "bad label");
      }
      const std::string name(line.substr(i, eq - i));
      std::size_t j = eq + 2;
      while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
      if (j >= line.size()) fail(line, "unterminated label value");
      if (!sample.labels
               .emplace(name, unescape(line.substr(eq + 2, j - eq - 2), line))
               .second) {
        fail(line, "duplicate label");
      }
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) fail(line, "unterminated labels");
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') fail(line, "missing value");
  std::string_view rest = line.substr(i + 1);
  const std::size_t space = rest.find(' ');  // an optional timestamp follows
  sample.value = parse_value(rest.substr(0, space), line);
  return sample;
}

}  // namespace

Exposition parse_exposition(std::string_view text) {
  Exposition out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) fail(text.substr(start), "no newline");
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (out.has_eof) fail(line, "content after # EOF");
    if (line == "# EOF") {
      out.has_eof = true;
    } else if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0 ||
               line.rfind("# UNIT ", 0) == 0) {
      const std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string family(rest.substr(0, space));
      const std::string_view body =
          space == std::string_view::npos ? "" : rest.substr(space + 1);
      if (line[2] == 'H') out.help[family] = unescape(body, line);
      if (line[2] == 'T') out.type[family] = std::string(body);
    } else if (!line.empty() && line[0] != '#') {
      out.samples.push_back(parse_sample(line));
    }
  }
  return out;
}

std::string sample_key(const Sample& sample) {
  std::string key = sample.name + "{";
  for (const auto& [name, value] : sample.labels) {
    key += name + "=\"" + value + "\",";
  }
  return key + "}";
}

}  // namespace vigil_test
