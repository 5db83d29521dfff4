#pragma once
// OpenMetrics 1.0 text.

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "vigil/detail/exposition_walk.hpp"
#include "vigil/detail/family_type.hpp"
#include "vigil/detail/names.hpp"
#include "vigil/detail/text_writer.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// Appends `v` as an OpenMetrics canonical number, which the format
/// requires for `le` and `quantile` values: what Go's
/// strconv.FormatFloat(v, 'g', -1, 64) prints (shortest round trip,
/// exponent form from 1e+06 and below 1e-04), with `.0` on integers:
/// `1.0`, `0.25`, `100000.0`, `1e+06`, `+Inf`.
inline void append_canonical_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    append_double(out, v);
    return;
  }
  // The shortest round-trip digits, from fmt's shortest form (either
  // `123.45` or `1.2345e+67`): `digits` and the position of the decimal
  // point in them (`point`), as in 0.<digits> x 10^point.
  fmt::memory_buffer shortest;
  fmt::format_to(std::back_inserter(shortest), FMT_STRING("{}"), std::abs(v));
  const std::string_view text(shortest.data(), shortest.size());
  const std::size_t e = text.find('e');
  const std::string_view mantissa = text.substr(0, e);
  int exponent = e == std::string_view::npos
                     ? 0
                     : std::atoi(std::string(text.substr(e + 1)).c_str());
  std::string digits;
  int point = static_cast<int>(mantissa.size());
  for (std::size_t i = 0; i < mantissa.size(); ++i) {
    if (mantissa[i] == '.') {
      point = static_cast<int>(i);
    } else {
      digits += mantissa[i];
    }
  }
  point += exponent;
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) {  // zero
    out += std::signbit(v) ? "-0.0" : "0.0";
    return;
  }
  digits.erase(0, first);
  point -= static_cast<int>(first);
  digits.erase(digits.find_last_not_of('0') + 1);

  if (std::signbit(v)) out += '-';
  exponent = point - 1;
  if (exponent < -4 || exponent >= 6) {  // Go's %g for shortest precision
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    fmt::format_to(std::back_inserter(out), FMT_STRING("e{}{:02}"),
                   exponent < 0 ? '-' : '+', std::abs(exponent));
  } else if (point <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-point), '0');
    out += digits;
  } else {
    const auto whole = static_cast<std::size_t>(point);
    if (digits.size() <= whole) {
      out += digits;
      out.append(whole - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, whole);
      out += '.';
      out.append(digits, whole, std::string::npos);
    }
  }
}

struct OpenMetricsFormat {
  /// `# TYPE`, `# UNIT`, `# HELP`, under the family name: a counter's
  /// without `_total`.
  static void header(std::string& out, const FamilyHeader& h) {
    const std::string_view family = family_name(h);
    line_start(out, "# TYPE ", family);
    out += type_name(h.type, "unknown");
    out += '\n';
    if (!h.unit.empty()) {
      line_start(out, "# UNIT ", family);
      out.append(h.unit.data(), h.unit.size());
      out += '\n';
    }
    if (!h.help.empty()) {
      line_start(out, "# HELP ", family);
      append_help(out, h.help, true);
      out += '\n';
    }
  }

  /// A counter's samples are always `<family>_total`.
  static void sample_name(std::string& out, const FamilyHeader& h) {
    out.assign(h.name.data(), h.name.size());
    if (h.type == FamilyType::kCounter &&
        strip_suffix(h.name, "_total").size() == h.name.size()) {
      out += "_total";
    }
  }

  static void append_bound(std::string& out, double bound) {
    append_canonical_number(out, bound);
  }

  /// Seconds since the epoch.
  static void append_timestamp(std::string& out, std::int64_t ms) {
    append_double(out, static_cast<double>(ms) / 1000.0);
  }

  static void end(std::string& out) { out += "# EOF\n"; }

 private:
  static std::string_view family_name(const FamilyHeader& h) {
    return h.type == FamilyType::kCounter ? strip_suffix(h.name, "_total")
                                          : h.name;
  }
  static void line_start(std::string& out, std::string_view prefix,
                         std::string_view family) {
    out.append(prefix.data(), prefix.size());
    out.append(family.data(), family.size());
    out += ' ';
  }
};

/// Writes the exposition walk as application/openmetrics-text;
/// version=1.0.0.
using OpenMetricsWriter = TextWriter<OpenMetricsFormat>;

}  // namespace detail
VIGIL_NAMESPACE_END
