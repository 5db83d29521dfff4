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

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// The length of the well-formed UTF-8 sequence at the start of `text`
/// (1-4), or 0 when it is not one: a stray continuation byte, a truncated
/// sequence, an overlong form, a surrogate or a code point past U+10FFFF.
inline std::size_t utf8_sequence_length(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code = lead & 0x1Fu;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code = lead & 0x0Fu;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[i]);
    if ((next & 0xC0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3Fu);
  }
  constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[length] || code > 0x10FFFF ||
      (code >= 0xD800 && code <= 0xDFFF)) {
    return 0;
  }
  return length;
}

/// Appends `value` as a quoted JSON string. Well-formed UTF-8 passes
/// through; every byte that is not part of a well-formed sequence becomes
/// U+FFFD, so a log line stays valid UTF-8 (and valid JSON) whatever a
/// client sent.
inline void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  while (!value.empty()) {
    const char c = value[0];
    const std::size_t length = utf8_sequence_length(value);
    if (length == 0) {
      out += "\\ufffd";
      value.remove_prefix(1);
      continue;
    }
    if (length > 1) {
      out.append(value.data(), length);
      value.remove_prefix(length);
      continue;
    }
    value.remove_prefix(1);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), FMT_STRING("\\u{:04x}"),
                         static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
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
