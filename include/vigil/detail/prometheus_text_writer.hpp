#pragma once
// The Prometheus text format, version 0.0.4.

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/detail/exposition_walk.hpp"
#include "vigil/detail/family_type.hpp"
#include "vigil/detail/names.hpp"
#include "vigil/detail/text_writer.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

struct PrometheusTextFormat {
  static void header(std::string& out, const FamilyHeader& h) {
    if (!h.help.empty()) {
      out += "# HELP ";
      out.append(h.name.data(), h.name.size());
      out += ' ';
      append_help(out, h.help, false);
      out += '\n';
    }
    out += "# TYPE ";
    out.append(h.name.data(), h.name.size());
    out += ' ';
    out += type_name(h.type, "untyped");
    out += '\n';
  }

  /// Samples keep the family's name; 0.0.4 has no `# UNIT`.
  static void sample_name(std::string& out, const FamilyHeader& h) {
    out.assign(h.name.data(), h.name.size());
  }

  /// Shortest round trip (`le="1"`, `le="0.25"`). The 0.0.4 format has no
  /// canonical-number rule: client_golang and prometheus-cpp write `le="1"`
  /// here too, and promtool check metrics accepts it. Prometheus 2.x stores
  /// `le` as written, so spelling it differently would rename every bucket
  /// series vigil users already have; only OpenMetrics gets `1.0`.
  static void append_bound(std::string& out, double bound) {
    append_double(out, bound);
  }

  /// Milliseconds since the epoch.
  static void append_timestamp(std::string& out, std::int64_t ms) {
    const fmt::format_int text(ms);
    out.append(text.data(), text.size());
  }

  static void end(std::string&) {}
};

/// Writes the exposition walk as text/plain; version=0.0.4.
using PrometheusTextWriter = TextWriter<PrometheusTextFormat>;

}  // namespace detail
VIGIL_NAMESPACE_END
