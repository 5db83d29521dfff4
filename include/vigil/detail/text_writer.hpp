#pragma once
// What the two text formats share: sample lines appended to a caller-owned
// buffer with fmt, no iostreams. PrometheusTextWriter and OpenMetricsWriter
// add the parts the formats spell differently (headers, counter sample
// names, `le`/`quantile` values, timestamps, the end).

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/detail/exposition_walk.hpp"
#include "vigil/detail/family_type.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// Shortest round-trip representation; infinities and NaN spelled the way
/// Prometheus parses them.
inline void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), FMT_STRING("{}"), v);
  }
}

inline void append_number(std::string& out, double v) { append_double(out, v); }
inline void append_number(std::string& out, std::uint64_t v) {
  const fmt::format_int text(v);
  out.append(text.data(), text.size());
}

/// A writer of the exposition walk (detail/exposition_walk.hpp) for a text
/// format. `Format` provides:
///   static void header(std::string& out, const FamilyHeader&);
///   static void sample_name(std::string& out, const FamilyHeader&);
///   static void append_bound(std::string& out, double);  // le, quantile
///   static void append_timestamp(std::string& out, std::int64_t ms);
///   static void end(std::string& out);
template <class Format>
class TextWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}

  void family(const FamilyHeader& header) {
    name_.assign(header.name.data(), header.name.size());
    Format::sample_name(sample_name_, header);
    Format::header(out_, header);
    // A vigil histogram's `le` labels, rendered once per family and scrape.
    bounds_ = header.bounds;
    if (bounds_ == nullptr) return;
    le_.resize(bounds_->size() + 1);
    for (std::size_t i = 0; i <= bounds_->size(); ++i) {
      render_bound(le_[i], "le",
                   i < bounds_->size()
                       ? (*bounds_)[i]
                       : std::numeric_limits<double>::infinity());
    }
  }

  template <class Labels>
  void series(const Labels& labels) {
    labels_ = labels.text;
  }

  template <class V>
  void value(V v, std::int64_t timestamp_ms = 0) {
    sample(sample_name_, {}, {}, v, timestamp_ms);
  }

  template <class V>
  void bucket(std::size_t index, double bound, V cumulative,
              std::int64_t timestamp_ms = 0) {
    if (bounds_ != nullptr && index <= bounds_->size()) {
      sample(name_, "_bucket", le_[index], cumulative, timestamp_ms);
    } else {
      render_bound(extra_, "le", bound);
      sample(name_, "_bucket", extra_, cumulative, timestamp_ms);
    }
  }

  void quantile(double q, double v, std::int64_t timestamp_ms = 0) {
    render_bound(extra_, "quantile", q);
    sample(name_, {}, extra_, v, timestamp_ms);
  }

  template <class V>
  void sum(V v, std::int64_t timestamp_ms = 0) {
    sample(name_, "_sum", {}, v, timestamp_ms);
  }

  template <class V>
  void count(V v, std::int64_t timestamp_ms = 0) {
    sample(name_, "_count", {}, v, timestamp_ms);
  }

  /// Ends the exposition (OpenMetrics' `# EOF`).
  void end() { Format::end(out_); }

 private:
  static void render_bound(std::string& out, std::string_view label,
                           double bound) {
    out.assign(label.data(), label.size());
    out += "=\"";
    Format::append_bound(out, bound);
    out += '"';
  }

  /// `name suffix{labels,extra} value[ timestamp]\n`
  template <class V>
  void sample(std::string_view name, std::string_view suffix,
              std::string_view extra, V v, std::int64_t timestamp_ms) {
    out_.append(name.data(), name.size());
    out_.append(suffix.data(), suffix.size());
    if (!labels_.empty() || !extra.empty()) {
      out_ += '{';
      out_.append(labels_.data(), labels_.size());
      if (!labels_.empty() && !extra.empty()) out_ += ',';
      out_.append(extra.data(), extra.size());
      out_ += '}';
    }
    out_ += ' ';
    append_number(out_, v);
    if (timestamp_ms != 0) {
      out_ += ' ';
      Format::append_timestamp(out_, timestamp_ms);
    }
    out_ += '\n';
  }

  std::string& out_;
  std::string name_;
  std::string sample_name_;
  std::string_view labels_;
  const std::vector<double>* bounds_ = nullptr;
  std::vector<std::string> le_;
  std::string extra_;
};

}  // namespace detail
VIGIL_NAMESPACE_END
