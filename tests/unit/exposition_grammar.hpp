#pragma once
// A strict parser of the two text exposition formats vigil writes
// (Prometheus text 0.0.4 and OpenMetrics 1.0), for the property test and
// the exposition fuzzer (exposition_model.hpp). Unlike text_parser.hpp,
// which only extracts samples, it rejects anything a strict scraper could
// refuse and anything vigil is not documented to write: invalid UTF-8,
// unknown escapes, bad names, metadata out of order or repeated, samples
// outside their family, non-canonical OpenMetrics `le`/`quantile`, content
// after `# EOF`. Header-only and exception-free (errors are returned), so
// the libFuzzer target can use it without gtest.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil_test::grammar {

enum class Dialect {
  kText,         // text/plain; version=0.0.4
  kOpenMetrics,  // application/openmetrics-text; version=1.0.0
};

struct ParsedSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // as written
  std::string value_text;
  double value = 0;
};

struct ParsedFamily {
  std::string name;  // as in # TYPE
  std::string type;
  std::optional<std::string> help;  // unescaped
  std::optional<std::string> unit;
  std::vector<ParsedSample> samples;
};

struct ParsedExposition {
  std::vector<ParsedFamily> families;
  std::string error;  // empty when the input is valid
};

struct ParseOptions {
  /// prometheus-cpp writes `Nan`; vigil must write `NaN`.
  bool any_case_nan = false;
};

/// Whether `s` is well-formed UTF-8 (Unicode table 3-7): no stray
/// continuation bytes, truncated or overlong forms, surrogates or code
/// points past U+10FFFF.
inline bool well_formed_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t k = 2; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < 0x80 || c > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

inline bool metric_name_ok(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

inline bool label_name_ok(std::string_view n) {
  return metric_name_ok(n) && n.find(':') == std::string_view::npos;
}

/// The float grammar both formats share (Go's ParseFloat without hex,
/// underscores or `inf` spellings): `[+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?`,
/// `NaN`, `+Inf`, `-Inf`: the spellings both formats share and vigil
/// writes (Go would also take `Inf`, `inf`, `infinity`).
inline std::optional<double> parse_float(std::string_view t,
                                         const ParseOptions& options) {
  if (t == "NaN") return std::nan("");
  if (options.any_case_nan && t.size() == 3 && (t[0] == 'N' || t[0] == 'n') &&
      (t[1] == 'a' || t[1] == 'A') && (t[2] == 'N' || t[2] == 'n')) {
    return std::nan("");
  }
  if (t == "+Inf") return HUGE_VAL;
  if (t == "-Inf") return -HUGE_VAL;
  std::size_t i = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
  std::size_t digits = 0;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != t.size()) return std::nullopt;
  const std::string copy(t);
  return std::strtod(copy.c_str(), nullptr);
}

/// The shortest decimal that reads back as `v`, spelled as Go's
/// strconv.FormatFloat(v, 'g', -1, 64): exponent form (at least two
/// exponent digits) when the decimal exponent is below -4 or at least 6.
/// Written independently of vigil's writer, from printf's `%e`.
inline std::string go_shortest_g(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  int precision = 0;
  for (; precision < 17; ++precision) {  // %.{p}e has p+1 digits
    std::snprintf(buf, sizeof buf, "%.*e", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // buf is `[-]d[.ddd]e±XX`.
  std::string s(buf);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  const std::size_t e = s.find('e');
  const int exponent = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (std::size_t i = 0; i < e; ++i) {
    if (s[i] != '.') digits += s[i];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (v == 0) return sign + "0";
  std::string out = sign;
  if (exponent < -4 || exponent >= 6) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    std::snprintf(buf, sizeof buf, "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    return out + buf;
  }
  if (exponent < 0) {
    return out + "0." +
           std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
  }
  const auto whole = static_cast<std::size_t>(exponent) + 1;
  if (digits.size() <= whole) {
    return out + digits + std::string(whole - digits.size(), '0');
  }
  return out + digits.substr(0, whole) + "." + digits.substr(whole);
}

/// OpenMetrics' canonical number for `le` and `quantile`: Go's shortest
/// `g`, with `.0` appended when that has neither `.` nor `e`.
inline std::string openmetrics_canonical(double v) {
  std::string s = go_shortest_g(v);
  if (std::isfinite(v) && s.find_first_of(".e") == std::string::npos) {
    s += ".0";
  }
  return s;
}

namespace detail {

class Parser {
 public:
  Parser(std::string_view text, Dialect dialect, ParseOptions options)
      : text_(text), dialect_(dialect), options_(options) {}

  ParsedExposition run() {
    if (!well_formed_utf8(text_)) return fail("", "not well-formed UTF-8");
    std::size_t start = 0;
    bool eof = false;
    while (start < text_.size()) {
      const std::size_t end = text_.find('\n', start);
      if (end == std::string_view::npos) {
        return fail(text_.substr(start), "last line has no newline");
      }
      const std::string_view line = text_.substr(start, end - start);
      start = end + 1;
      if (eof) return fail(line, "content after # EOF");
      std::string why;
      if (line.empty()) {
        why = "empty line";
      } else if (line[0] == '#') {
        if (dialect_ == Dialect::kOpenMetrics && line == "# EOF") {
          eof = true;
          continue;
        }
        why = metadata(line);
      } else {
        why = sample(line);
      }
      if (!why.empty()) return fail(line, why);
    }
    if (dialect_ == Dialect::kOpenMetrics && !eof) {
      return fail("", "no # EOF");
    }
    return std::move(out_);
  }

 private:
  ParsedExposition fail(std::string_view line, const std::string& why) {
    ParsedExposition failed;
    failed.error = why + ": `" + std::string(line) + "`";
    return failed;
  }

  /// `\\`, `\n`, and `\"` where allowed; anything else after a backslash
  /// is an error.
  static bool unescape(std::string_view in, bool allow_quote,
                       std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] != '\\') {
        out += in[i];
        continue;
      }
      if (++i == in.size()) return false;
      if (in[i] == '\\') {
        out += '\\';
      } else if (in[i] == 'n') {
        out += '\n';
      } else if (in[i] == '"' && allow_quote) {
        out += '"';
      } else {
        return false;
      }
    }
    return true;
  }

  ParsedFamily* family(std::string_view name) {
    for (auto& f : out_.families) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  std::string metadata(std::string_view line) {
    const bool om = dialect_ == Dialect::kOpenMetrics;
    if (line.size() < 7 || line[1] != ' ' || line[6] != ' ') {
      return "unexpected comment";
    }
    const std::string_view keyword = line.substr(2, 4);
    const std::string_view rest = line.substr(7);
    const std::size_t space = rest.find(' ');
    const std::string_view name = rest.substr(0, space);
    if (!metric_name_ok(name)) return "bad family name";
    if (space == std::string_view::npos) return "metadata without a value";
    const std::string_view body = rest.substr(space + 1);
    ParsedFamily* current =
        out_.families.empty() ? nullptr : &out_.families.back();
    const bool same = current != nullptr && current->name == name;
    if (!same && family(name) != nullptr) return "family metadata repeated";
    if (keyword == "TYPE") {
      static const char* const kText[] = {"counter", "gauge", "histogram",
                                          "summary", "untyped"};
      static const char* const kOm[] = {"counter",  "gauge",   "histogram",
                                        "summary",  "unknown", "gaugehistogram",
                                        "stateset", "info"};
      bool known = false;
      for (const char* t : kText) known |= !om && body == t;
      for (const char* t : kOm) known |= om && body == t;
      if (!known) return "unknown type";
      if (same && !current->type.empty()) return "second # TYPE";
      if (same && !current->samples.empty()) return "# TYPE after samples";
      // Text writes HELP first, OpenMetrics TYPE first.
      if (om && same) return "# TYPE after other metadata";
      if (!same) {
        out_.families.push_back({});
        current = &out_.families.back();
        current->name = std::string(name);
      }
      current->type = std::string(body);
      return {};
    }
    if (keyword == "HELP") {
      std::string help;
      if (!unescape(body, om, help)) return "bad escape in help";
      if (om) {
        if (!same || current->help) return "# HELP out of place";
      } else if (same) {
        return "# HELP after # TYPE or twice";
      } else {
        out_.families.push_back({});
        current = &out_.families.back();
        current->name = std::string(name);
      }
      if (!current->samples.empty()) return "# HELP after samples";
      current->help = help;
      return {};
    }
    if (keyword == "UNIT" && om) {
      if (!same || current->unit || current->help ||
          !current->samples.empty()) {
        return "# UNIT out of place";
      }
      if (!label_name_ok(body)) return "bad unit";
      current->unit = std::string(body);
      return {};
    }
    return "unexpected comment";
  }

  /// Whether sample `name` belongs to `f` by the format's suffix rules.
  bool belongs(const ParsedFamily& f, std::string_view name) const {
    const auto suffixed = [&](std::string_view suffix) {
      return name.size() == f.name.size() + suffix.size() &&
             name.substr(0, f.name.size()) == f.name &&
             name.substr(f.name.size()) == suffix;
    };
    if (f.type == "counter") {
      return dialect_ == Dialect::kOpenMetrics
                 ? suffixed("_total") || suffixed("_created")
                 : name == f.name;
    }
    if (f.type == "histogram") {
      return suffixed("_bucket") || suffixed("_sum") || suffixed("_count") ||
             (dialect_ == Dialect::kOpenMetrics && suffixed("_created"));
    }
    if (f.type == "summary") {
      return name == f.name || suffixed("_sum") || suffixed("_count");
    }
    return name == f.name;
  }

  std::string sample(std::string_view line) {
    if (out_.families.empty() || out_.families.back().type.empty()) {
      return "sample outside a typed family";
    }
    ParsedFamily& f = out_.families.back();
    ParsedSample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (!metric_name_ok(s.name)) return "bad sample name";
    if (!belongs(f, s.name)) return "sample not of the current family";
    if (i < line.size() && line[i] == '{') {
      ++i;
      if (i < line.size() && line[i] == '}') return "empty label set";
      while (true) {
        const std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos) return "label without =";
        const std::string_view name = line.substr(i, eq - i);
        if (!label_name_ok(name)) return "bad label name (or trailing comma)";
        if (eq + 1 >= line.size() || line[eq + 1] != '"') {
          return "unquoted label value";
        }
        std::size_t j = eq + 2;
        while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
        if (j >= line.size()) return "unterminated label value";
        std::string value;
        if (!unescape(line.substr(eq + 2, j - eq - 2), true, value)) {
          return "bad escape in label value";
        }
        for (const auto& label : s.labels) {
          if (label.first == name) return "duplicate label";
        }
        s.labels.emplace_back(std::string(name), std::move(value));
        i = j + 1;
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        } else {
          return "labels not separated by a comma";
        }
      }
    }
    if (i >= line.size() || line[i] != ' ') return "no space before value";
    std::string_view rest = line.substr(i + 1);
    const std::size_t space = rest.find(' ');
    s.value_text = std::string(rest.substr(0, space));
    const auto value = parse_float(s.value_text, options_);
    if (!value) return "bad value";
    s.value = *value;
    if (space != std::string_view::npos) {
      const std::string_view ts = rest.substr(space + 1);
      // OpenMetrics: seconds, a finite float; text: integer milliseconds.
      const auto seconds = parse_float(ts, options_);
      const bool ok =
          dialect_ == Dialect::kOpenMetrics
              ? seconds && std::isfinite(*seconds)
              : !ts.empty() && ts.find_first_not_of("-0123456789") ==
                                   std::string_view::npos;
      if (!ok) return "bad timestamp";
    }
    if (dialect_ == Dialect::kOpenMetrics) {
      for (const auto& [n, v] : s.labels) {
        const bool numeric = (n == "le" && f.type == "histogram") ||
                             (n == "quantile" && f.type == "summary");
        if (!numeric) continue;
        const auto parsed = parse_float(v, options_);
        if (!parsed || openmetrics_canonical(*parsed) != v) {
          return "non-canonical " + n;
        }
      }
    }
    f.samples.push_back(std::move(s));
    return {};
  }

  std::string_view text_;
  Dialect dialect_;
  ParseOptions options_;
  ParsedExposition out_;
};

}  // namespace detail

/// Parses `text`; on any deviation from the grammar, the result has no
/// families and `error` names the first offending line.
inline ParsedExposition parse(std::string_view text, Dialect dialect,
                              ParseOptions options = {}) {
  return detail::Parser(text, dialect, options).run();
}

}  // namespace vigil_test::grammar
