#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "vigil/detail/text_writer.hpp"
#include "vigil/exposition_format.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

namespace detail {

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

inline void render_labels(
    std::string& out,
    const std::vector<prometheus::ClientMetric::Label>& labels) {
  out.clear();
  for (const auto& label : labels) {
    if (!out.empty()) out += ',';
    out += label.name;
    out += "=\"";
    append_label_value(out, label.value);
    out += '"';
  }
}

inline void write_family(TextWriter& writer,
                         const prometheus::MetricFamily& family,
                         std::string& labels, std::string& sample_name) {
  const FamilyType type = family_type(family.type);
  writer.header(family.name, family.help, type, {});
  for (const auto& metric : family.metric) {
    render_labels(labels, metric.label);
    const auto ts = metric.timestamp_ms;
    switch (type) {
      case FamilyType::kCounter:
        writer.counter_sample_name(sample_name, family.name);
        writer.sample_start(sample_name, {}, labels);
        writer.value(metric.counter.value, ts);
        break;
      case FamilyType::kGauge:
        writer.sample_start(family.name, {}, labels);
        writer.value(metric.gauge.value, ts);
        break;
      case FamilyType::kUntyped:
        writer.sample_start(family.name, {}, labels);
        writer.value(metric.untyped.value, ts);
        break;
      case FamilyType::kSummary:
        for (const auto& q : metric.summary.quantile) {
          writer.sample_start(family.name, {}, labels,
                              render_bound_label("quantile", q.quantile));
          writer.value(q.value, ts);
        }
        writer.sample_start(family.name, "_sum", labels);
        writer.value(metric.summary.sample_sum, ts);
        writer.sample_start(family.name, "_count", labels);
        writer.value(static_cast<double>(metric.summary.sample_count), ts);
        break;
      case FamilyType::kHistogram: {
        bool has_inf = false;
        for (const auto& b : metric.histogram.bucket) {
          has_inf = has_inf || std::isinf(b.upper_bound);
          writer.sample_start(family.name, "_bucket", labels,
                              render_bound_label("le", b.upper_bound));
          writer.value(static_cast<double>(b.cumulative_count), ts);
        }
        if (!has_inf) {  // the formats require a +Inf bucket
          writer.sample_start(family.name, "_bucket", labels, "le=\"+Inf\"");
          writer.value(static_cast<double>(metric.histogram.sample_count), ts);
        }
        writer.sample_start(family.name, "_sum", labels);
        writer.value(metric.histogram.sample_sum, ts);
        writer.sample_start(family.name, "_count", labels);
        writer.value(static_cast<double>(metric.histogram.sample_count), ts);
        break;
      }
    }
  }
}

}  // namespace detail

/// Appends prometheus-cpp metric families to `out` in `format`, with vigil's
/// escaping (HELP newlines included). Lets a service serve metrics it already
/// keeps in prometheus-cpp next to vigil's, or on its own.
///
/// Thread-safety: a pure function of its arguments.
///
///     std::string body;
///     vigil::write_families(body, prom_registry->Collect(),
///                           vigil::ExpositionFormat::kPrometheusText);
///
/// Does not add OpenMetrics' `# EOF`; the caller ends the body (see
/// Registry::write, which does).
inline void write_families(
    std::string& out, const std::vector<prometheus::MetricFamily>& families,
    ExpositionFormat format) {
  detail::TextWriter writer(out, format);
  std::string labels;
  std::string sample_name;
  for (const auto& family : families) {
    detail::write_family(writer, family, labels, sample_name);
  }
}

VIGIL_NAMESPACE_END
