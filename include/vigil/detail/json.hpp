#pragma once
// Just enough JSON writing for log lines and health reports; no parser.

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <string>
#include <string_view>

#include "vigil/detail/utf8.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// Appends `value` as a quoted JSON string. Well-formed UTF-8 passes
/// through; every byte that is not part of a well-formed sequence becomes
/// U+FFFD, so a log line stays valid UTF-8 (and valid JSON) whatever a
/// client sent.
inline void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  append_utf8(out, value, "\\ufffd", [](std::string& o, char c) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(o), FMT_STRING("\\u{:04x}"),
                         static_cast<unsigned>(c));
        } else {
          o += c;
        }
    }
  });
  out += '"';
}

/// JSON has no NaN or infinity: those become null.
inline void append_json_number(std::string& out, double value) {
  if (std::isfinite(value)) {
    fmt::format_to(std::back_inserter(out), FMT_STRING("{}"), value);
  } else {
    out += "null";
  }
}

/// RFC 3339 UTC with milliseconds, e.g. 2026-01-17T03:36:48.123Z.
inline void append_rfc3339(std::string& out,
                           std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      time.time_since_epoch())
                      .count();
  const auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  fmt::format_to(std::back_inserter(out),
                 FMT_STRING("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z"),
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                 utc.tm_min, utc.tm_sec, static_cast<int>(ms % 1000));
}

}  // namespace detail
VIGIL_NAMESPACE_END
