#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "vigil/detail/exposition_walk.hpp"
#include "vigil/detail/openmetrics_writer.hpp"
#include "vigil/detail/prometheus_text_writer.hpp"
#include "vigil/exposition_format.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

namespace detail {

/// Calls `body(writer)` with the writer of `format` appending to `out`:
/// the one place a format picks its writer.
template <class Body>
void with_writer(std::string& out, ExpositionFormat format, Body&& body) {
  switch (format) {
    case ExpositionFormat::kOpenMetrics: {
      OpenMetricsWriter writer(out);
      body(writer);
      return;
    }
    case ExpositionFormat::kPrometheusText:
      break;
  }
  PrometheusTextWriter writer(out);
  body(writer);
}

}  // namespace detail

/// Appends prometheus-cpp metric families to `out` in `format`, with vigil's
/// escaping (HELP newlines included, invalid UTF-8 replaced by U+FFFD). Lets
/// a service serve metrics it already keeps in prometheus-cpp next to
/// vigil's, or on its own.
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
  detail::with_writer(out, format, [&](auto& writer) {
    std::string labels;
    for (const auto& family : families) detail::walk(family, writer, labels);
  });
}

VIGIL_NAMESPACE_END
