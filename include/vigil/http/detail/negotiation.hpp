#pragma once
// Parsing of Accept and Accept-Encoding (RFC 9110 §12.5), hostile input
// included: it runs on every request and is fuzzed.

#include <cstddef>
#include <string_view>

#include "vigil/exposition_format.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {
namespace detail {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

/// Splits `list` at `separator` outside double-quoted strings (a parameter
/// value may be quoted and contain separators). Returns the first piece and
/// advances `list` past it.
inline std::string_view next_piece(std::string_view& list, char separator) {
  bool quoted = false;
  std::size_t i = 0;
  for (; i < list.size(); ++i) {
    const char c = list[i];
    if (quoted && c == '\\') {
      ++i;  // skips the escaped character (or runs off the end, see below)
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == separator) {
      break;
    }
  }
  const std::size_t end = i < list.size() ? i : list.size();
  const std::string_view piece = list.substr(0, end);
  list.remove_prefix(end < list.size() ? end + 1 : list.size());
  return piece;
}

/// A qvalue in thousandths (0..1000), or -1 if malformed: "0", "0.5",
/// "1.000"; at most three decimals, never above 1.
inline int parse_qvalue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) {
    return -1;
  }
  int value = (text[0] - '0') * 1000;
  if (text.size() == 1) {
    return value;
  }
  if (text[1] != '.' || text.size() > 5) {
    return -1;
  }
  int scale = 100;
  for (std::size_t i = 2; i < text.size(); ++i, scale /= 10) {
    if (text[i] < '0' || text[i] > '9') {
      return -1;
    }
    value += (text[i] - '0') * scale;
  }
  return value > 1000 ? -1 : value;
}

/// One element of an Accept-style list: the value before the first `;`,
/// its q (1000 when absent) and its `version` parameter, if any.
struct ListElement {
  std::string_view value;
  std::string_view version;
  int q = 1000;
};

/// Calls `visit(const ListElement&)` for each well-formed element of an
/// Accept-style header; elements with a malformed q are skipped.
template <class Visit>
void for_each_element(std::string_view header, Visit&& visit) {
  while (!header.empty()) {
    std::string_view element = next_piece(header, ',');
    ListElement parsed;
    parsed.value = trim(next_piece(element, ';'));
    bool valid = !parsed.value.empty();
    while (valid && !element.empty()) {
      const std::string_view param = trim(next_piece(element, ';'));
      const std::size_t eq = param.find('=');
      if (eq == std::string_view::npos) {
        continue;
      }
      const std::string_view name = trim(param.substr(0, eq));
      std::string_view value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (iequals(name, "q")) {
        parsed.q = parse_qvalue(value);
        valid = parsed.q >= 0;
      } else if (iequals(name, "version")) {
        parsed.version = value;
      }
    }
    if (valid) {
      visit(static_cast<const ListElement&>(parsed));
    }
  }
}

/// OpenMetrics when the client accepts it at least as much as the text
/// format; the text format otherwise, including for an absent or unrelated
/// Accept (scrapers that send nothing expect text).
inline ExpositionFormat negotiate_format(std::string_view accept) {
  int open_metrics = 0;
  int text = 0;
  for_each_element(accept, [&](const ListElement& e) {
    if (iequals(e.value, "application/openmetrics-text")) {
      // 0.0.1 and 1.0.0 differ in nothing vigil emits.
      if (e.version.empty() || e.version == "1.0.0" || e.version == "0.0.1") {
        open_metrics = e.q > open_metrics ? e.q : open_metrics;
      }
    } else if (iequals(e.value, "text/plain") || iequals(e.value, "text/*") ||
               e.value == "*/*") {
      if (e.version.empty() || e.version == "0.0.4") {
        text = e.q > text ? e.q : text;
      }
    }
  });
  return open_metrics > 0 && open_metrics >= text
             ? ExpositionFormat::kOpenMetrics
             : ExpositionFormat::kPrometheusText;
}

/// True when Accept-Encoding allows gzip: listed (or x-gzip) with q > 0, or
/// not listed and `*` has q > 0.
inline bool accepts_gzip(std::string_view accept_encoding) {
  int gzip = -1;
  int any = -1;
  for_each_element(accept_encoding, [&](const ListElement& e) {
    if (iequals(e.value, "gzip") || iequals(e.value, "x-gzip")) {
      gzip = e.q > gzip ? e.q : gzip;
    } else if (e.value == "*") {
      any = e.q > any ? e.q : any;
    }
  });
  return gzip >= 0 ? gzip > 0 : any > 0;
}

}  // namespace detail
}  // namespace http
VIGIL_NAMESPACE_END
