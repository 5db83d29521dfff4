#pragma once
// The exposition walk into prometheus-cpp's data model, for
// Registry::Collect() (a prometheus::Exposer serialises that itself).

#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vigil/detail/exposition_walk.hpp"
#include "vigil/detail/family_type.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace detail {

class MetricFamilyWriter {
 public:
  explicit MetricFamilyWriter(std::vector<prometheus::MetricFamily>& out)
      : out_(out) {}

  void family(const FamilyHeader& h) {
    prometheus::MetricFamily family;
    family.name = std::string(h.name);
    family.help = std::string(h.help);
    family.type = metric_type(h.type);
    out_.push_back(std::move(family));
  }

  template <class Labels>
  void series(const Labels& labels) {
    auto& metric = out_.back().metric.emplace_back();
    labels.each([&](std::string_view name, std::string_view value) {
      metric.label.push_back({std::string(name), std::string(value)});
    });
  }

  template <class V>
  void value(V v, std::int64_t timestamp_ms = 0) {
    auto& m = metric(timestamp_ms);
    switch (out_.back().type) {
      case prometheus::MetricType::Counter:
        m.counter.value = static_cast<double>(v);
        break;
      case prometheus::MetricType::Gauge:
        m.gauge.value = static_cast<double>(v);
        break;
      default:
        m.untyped.value = static_cast<double>(v);
    }
  }

  template <class V>
  void bucket(std::size_t, double bound, V cumulative,
              std::int64_t timestamp_ms = 0) {
    metric(timestamp_ms)
        .histogram.bucket.push_back(
            {static_cast<std::uint64_t>(cumulative), bound});
  }

  void quantile(double q, double v, std::int64_t timestamp_ms = 0) {
    metric(timestamp_ms).summary.quantile.push_back({q, v});
  }

  template <class V>
  void sum(V v, std::int64_t timestamp_ms = 0) {
    auto& m = metric(timestamp_ms);
    (summary() ? m.summary.sample_sum : m.histogram.sample_sum) =
        static_cast<double>(v);
  }

  template <class V>
  void count(V v, std::int64_t timestamp_ms = 0) {
    auto& m = metric(timestamp_ms);
    (summary() ? m.summary.sample_count : m.histogram.sample_count) =
        static_cast<std::uint64_t>(v);
  }

  void end() {}

 private:
  bool summary() const {
    return out_.back().type == prometheus::MetricType::Summary;
  }
  prometheus::ClientMetric& metric(std::int64_t timestamp_ms) {
    auto& m = out_.back().metric.back();
    m.timestamp_ms = timestamp_ms;
    return m;
  }

  static prometheus::MetricType metric_type(FamilyType type) {
    switch (type) {
      case FamilyType::kCounter:
        return prometheus::MetricType::Counter;
      case FamilyType::kGauge:
        return prometheus::MetricType::Gauge;
      case FamilyType::kHistogram:
        return prometheus::MetricType::Histogram;
      case FamilyType::kSummary:
        return prometheus::MetricType::Summary;
      case FamilyType::kUntyped:
        break;
    }
    return prometheus::MetricType::Untyped;
  }

  std::vector<prometheus::MetricFamily>& out_;
};

}  // namespace detail
VIGIL_NAMESPACE_END
