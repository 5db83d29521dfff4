#pragma once
// Low-level writer shared by vigil's own families and by foreign
// prometheus-cpp collectables: appends exposition lines to a caller-owned
// buffer with fmt, no iostreams.

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "vigil/detail/names.hpp"
#include "vigil/exposition_format.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

enum class FamilyType { kCounter, kGauge, kHistogram, kSummary, kUntyped };

inline std::string_view strip_suffix(std::string_view name,
                                     std::string_view suffix) {
  if (name.size() > suffix.size() &&
      name.substr(name.size() - suffix.size()) == suffix) {
    name.remove_suffix(suffix.size());
  }
  return name;
}

class TextWriter {
 public:
  TextWriter(std::string& out, ExpositionFormat format)
      : out_(out), format_(format) {}

  bool open_metrics() const {
    return format_ == ExpositionFormat::kOpenMetrics;
  }

  /// The family name as the format spells it: OpenMetrics names a counter
  /// family without its `_total` suffix.
  std::string_view family_name(std::string_view name, FamilyType type) const {
    return open_metrics() && type == FamilyType::kCounter
               ? strip_suffix(name, "_total")
               : name;
  }

  /// The sample name of a counter: OpenMetrics always adds `_total`.
  void counter_sample_name(std::string& name_out, std::string_view name) const {
    name_out.assign(name.data(), name.size());
    if (open_metrics() && strip_suffix(name, "_total").size() == name.size()) {
      name_out += "_total";
    }
  }

  void header(std::string_view name, std::string_view help, FamilyType type,
              std::string_view unit) {
    const std::string_view family = family_name(name, type);
    if (open_metrics()) {
      line_start("# TYPE ", family);
      out_ += ' ';
      out_ += type_name(type);
      out_ += '\n';
      if (!unit.empty()) {
        line_start("# UNIT ", family);
        out_ += ' ';
        out_ += unit;
        out_ += '\n';
      }
      if (!help.empty()) {
        line_start("# HELP ", family);
        out_ += ' ';
        append_help(out_, help, true);
        out_ += '\n';
      }
    } else {
      if (!help.empty()) {
        line_start("# HELP ", family);
        out_ += ' ';
        append_help(out_, help, false);
        out_ += '\n';
      }
      line_start("# TYPE ", family);
      out_ += ' ';
      out_ += type_name(type);
      out_ += '\n';
    }
  }

  /// Starts a sample: `name suffix {labels,extra}` with a trailing space.
  /// `labels` and `extra` are rendered label blocks (see render_labels).
  void sample_start(std::string_view name, std::string_view suffix,
                    std::string_view labels, std::string_view extra = {}) {
    out_.append(name.data(), name.size());
    out_.append(suffix.data(), suffix.size());
    if (!labels.empty() || !extra.empty()) {
      out_ += '{';
      out_.append(labels.data(), labels.size());
      if (!labels.empty() && !extra.empty()) out_ += ',';
      out_.append(extra.data(), extra.size());
      out_ += '}';
    }
    out_ += ' ';
  }

  void value(double v) {
    append_double(out_, v);
    out_ += '\n';
  }
  void value(std::uint64_t v) {
    const fmt::format_int text(v);
    out_.append(text.data(), text.size());
    out_ += '\n';
  }
  /// Value followed by a timestamp in milliseconds (0 = none).
  void value(double v, std::int64_t timestamp_ms) {
    append_double(out_, v);
    if (timestamp_ms != 0) {
      out_ += ' ';
      if (open_metrics()) {
        append_double(out_, static_cast<double>(timestamp_ms) / 1000.0);
      } else {
        const fmt::format_int text(timestamp_ms);
        out_.append(text.data(), text.size());
      }
    }
    out_ += '\n';
  }

  void end() {
    if (open_metrics()) out_ += "# EOF\n";
  }

  /// Shortest round-trip representation; infinities and NaN spelled the way
  /// Prometheus parses them.
  static void append_double(std::string& out, double v) {
    if (std::isnan(v)) {
      out += "NaN";
    } else if (std::isinf(v)) {
      out += v > 0 ? "+Inf" : "-Inf";
    } else {
      fmt::format_to(std::back_inserter(out), FMT_STRING("{}"), v);
    }
  }

 private:
  void line_start(std::string_view prefix, std::string_view family) {
    out_.append(prefix.data(), prefix.size());
    out_.append(family.data(), family.size());
  }
  std::string_view type_name(FamilyType type) const {
    switch (type) {
      case FamilyType::kCounter:
        return "counter";
      case FamilyType::kGauge:
        return "gauge";
      case FamilyType::kHistogram:
        return "histogram";
      case FamilyType::kSummary:
        return "summary";
      case FamilyType::kUntyped:
        break;
    }
    return open_metrics() ? "unknown" : "untyped";
  }

  std::string& out_;
  ExpositionFormat format_;
};

/// `le="0.25"`: the rendered bucket label for an upper bound.
inline std::string render_bound_label(std::string_view name, double bound) {
  std::string out(name);
  out += "=\"";
  TextWriter::append_double(out, bound);
  out += '"';
  return out;
}

}  // namespace detail
VIGIL_NAMESPACE_END
