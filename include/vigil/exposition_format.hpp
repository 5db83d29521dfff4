#pragma once

#include <string_view>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// The two text formats Prometheus scrapes. OpenMetrics adds `# UNIT`,
/// names counter samples `<family>_total` and ends with `# EOF`.
enum class ExpositionFormat {
  kPrometheusText,  ///< text/plain; version=0.0.4
  kOpenMetrics,     ///< application/openmetrics-text; version=1.0.0
};

/// The Content-Type header that goes with a body in `format`.
inline std::string_view content_type(ExpositionFormat format) {
  return format == ExpositionFormat::kOpenMetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

VIGIL_NAMESPACE_END
