#pragma once
// The one walk behind every exposition. A source (a vigil family, a
// prometheus-cpp MetricFamily, the registry's error counts) describes its
// families to a writer with these calls, in this order:
//
//   writer.family(header)           once per family
//   writer.series(labels)           once per series of that family, then
//   writer.value(v, ts)             counter, gauge and untyped series; or
//   writer.bucket(i, bound, c, ts)  cumulative buckets, +Inf last, then
//   writer.quantile(q, v, ts)       (summaries, instead of buckets)
//   writer.sum(v, ts)
//   writer.count(c, ts)             histograms and summaries
//
// Values are double or std::uint64_t; a timestamp of 0 means none. A
// writer (detail/prometheus_text_writer.hpp, detail/openmetrics_writer.hpp,
// detail/metric_family_writer.hpp) decides only how each piece is spelled,
// so the formats cannot disagree about what a family contains.

#include <prometheus/metric_family.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/detail/family_type.hpp"
#include "vigil/detail/label_values.hpp"
#include "vigil/detail/names.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

/// What a writer learns about a family before its series.
struct FamilyHeader {
  std::string_view name;  ///< as registered (a counter's may end in _total)
  std::string_view help;
  FamilyType type = FamilyType::kUntyped;
  std::string_view unit;
  /// A vigil histogram's finite bounds, the same for every series: bucket i
  /// of a series has bound (*bounds)[i], and i == bounds->size() is +Inf.
  /// Null when each series brings its own (prometheus-cpp).
  const std::vector<double>* bounds = nullptr;
};

/// bucket() index of a bound that is not from FamilyHeader::bounds.
inline constexpr std::size_t kUnlistedBound =
    std::numeric_limits<std::size_t>::max();

/// Labels of a series as writers see them: `text` is the rendered, escaped
/// block (`a="x",b="y"`); each() visits the raw name/value pairs.
struct SeriesLabels {
  const std::vector<std::string>& names;
  const LabelValues& values;
  std::string_view text;
  template <class F>
  void each(F&& visit) const {
    for (std::size_t i = 0; i < names.size(); ++i) visit(names[i], values[i]);
  }
};

/// SeriesLabels for a single label.
struct SingleLabel {
  std::string_view name;
  std::string_view value;
  std::string_view text;
  template <class F>
  void each(F&& visit) const {
    visit(name, value);
  }
};

/// SeriesLabels of a prometheus-cpp metric.
struct ClientLabels {
  const std::vector<prometheus::ClientMetric::Label>& labels;
  std::string_view text;
  template <class F>
  void each(F&& visit) const {
    for (const auto& label : labels) visit(label.name, label.value);
  }
};

inline FamilyType family_type(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return FamilyType::kCounter;
    case prometheus::MetricType::Gauge:
      return FamilyType::kGauge;
    case prometheus::MetricType::Histogram:
      return FamilyType::kHistogram;
    case prometheus::MetricType::Summary:
      return FamilyType::kSummary;
    case prometheus::MetricType::Untyped:
      break;
  }
  return FamilyType::kUntyped;
}

/// Walks a prometheus-cpp family. Its counts are doubles in the output, as
/// prometheus-cpp writes them. `scratch` holds each metric's rendered labels.
template <class Writer>
void walk(const prometheus::MetricFamily& family, Writer& writer,
          std::string& scratch) {
  const FamilyType type = family_type(family.type);
  writer.family(FamilyHeader{family.name, family.help, type, {}, nullptr});
  for (const auto& metric : family.metric) {
    scratch.clear();
    for (const auto& label : metric.label) {
      if (!scratch.empty()) scratch += ',';
      scratch += label.name;
      scratch += "=\"";
      append_label_value(scratch, label.value);
      scratch += '"';
    }
    writer.series(ClientLabels{metric.label, scratch});
    const auto ts = metric.timestamp_ms;
    switch (type) {
      case FamilyType::kCounter:
        writer.value(metric.counter.value, ts);
        break;
      case FamilyType::kGauge:
        writer.value(metric.gauge.value, ts);
        break;
      case FamilyType::kUntyped:
        writer.value(metric.untyped.value, ts);
        break;
      case FamilyType::kSummary:
        for (const auto& q : metric.summary.quantile) {
          writer.quantile(q.quantile, q.value, ts);
        }
        writer.sum(metric.summary.sample_sum, ts);
        writer.count(static_cast<double>(metric.summary.sample_count), ts);
        break;
      case FamilyType::kHistogram: {
        const auto& h = metric.histogram;
        bool has_inf = false;
        for (const auto& b : h.bucket) {
          has_inf = has_inf || std::isinf(b.upper_bound);
          writer.bucket(kUnlistedBound, b.upper_bound,
                        static_cast<double>(b.cumulative_count), ts);
        }
        if (!has_inf) {  // the formats require a +Inf bucket
          writer.bucket(kUnlistedBound, std::numeric_limits<double>::infinity(),
                        static_cast<double>(h.sample_count), ts);
        }
        writer.sum(h.sample_sum, ts);
        writer.count(static_cast<double>(h.sample_count), ts);
        break;
      }
    }
  }
}

}  // namespace detail
VIGIL_NAMESPACE_END
