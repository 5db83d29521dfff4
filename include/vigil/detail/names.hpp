#pragma once
// Validation of metric and label names, and escaping for the text formats.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/detail/utf8.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

inline bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (allow_colon && c == ':');
}
inline bool is_name_char(char c, bool allow_colon) {
  return is_name_start(c, allow_colon) || (c >= '0' && c <= '9');
}
inline bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty() || !is_name_start(name[0], allow_colon)) return false;
  for (char c : name) {
    if (!is_name_char(c, allow_colon)) return false;
  }
  return true;
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, as Prometheus defines metric names.
inline bool valid_metric_name(std::string_view name) {
  return valid_name(name, true);
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, without the reserved `__` prefix.
inline bool valid_label_name(std::string_view name) {
  return valid_name(name, false) && name.substr(0, 2) != "__";
}

inline void check_metric_name(std::string_view name) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument("vigil: invalid metric name '" +
                                std::string(name) +
                                "' (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
}

inline void check_label_names(std::string_view metric,
                              const std::vector<std::string>& names,
                              bool reserve_le) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (!valid_label_name(name)) {
      throw std::invalid_argument(
          "vigil: invalid label name '" + name + "' on metric '" +
          std::string(metric) +
          "' (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)");
    }
    if (reserve_le && name == "le") {
      throw std::invalid_argument("vigil: histogram '" + std::string(metric) +
                                  "' cannot use the reserved label 'le'");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (names[j] == name) {
        throw std::invalid_argument("vigil: duplicate label name '" + name +
                                    "' on metric '" + std::string(metric) +
                                    "'");
      }
    }
  }
}

/// Appends `value` escaped for a label value: backslash, double quote and
/// newline, as both text formats require. Bytes that are not well-formed
/// UTF-8 become U+FFFD: a scraper rejects the whole scrape for one of them.
inline void append_label_value(std::string& out, std::string_view value) {
  append_utf8(out, value, kReplacementCharacter, [](std::string& o, char c) {
    switch (c) {
      case '\\':
        o += "\\\\";
        break;
      case '"':
        o += "\\\"";
        break;
      case '\n':
        o += "\\n";
        break;
      default:
        o += c;
    }
  });
}

/// Appends HELP text escaped: backslash and newline always (prometheus-cpp
/// 1.0 leaves newlines raw, which breaks parsers), double quote in
/// OpenMetrics; bytes that are not well-formed UTF-8 become U+FFFD.
inline void append_help(std::string& out, std::string_view help,
                        bool escape_quote) {
  append_utf8(out, help, kReplacementCharacter,
              [escape_quote](std::string& o, char c) {
                switch (c) {
                  case '\\':
                    o += "\\\\";
                    break;
                  case '\n':
                    o += "\\n";
                    break;
                  case '"':
                    o += escape_quote ? "\\\"" : "\"";
                    break;
                  default:
                    o += c;
                }
              });
}

/// Renders `a="x",b="y"`: the label block of a series without braces.
inline std::string render_labels(const std::vector<std::string>& names,
                                 const std::string_view* values) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    append_label_value(out, values[i]);
    out += '"';
  }
  return out;
}

}  // namespace detail
VIGIL_NAMESPACE_END
