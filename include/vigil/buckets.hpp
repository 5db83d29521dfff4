#pragma once

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Histogram bucket layouts. A layout lists the finite upper bounds,
/// strictly increasing; the `+Inf` bucket is always added by vigil.
///
///     registry.histogram("rpc_seconds", "RPC latency.", {"method"},
///                        vigil::exponential_buckets(0.001, 2, 12));
namespace buckets {

/// Prometheus' default layout for request latency in seconds (11 bounds,
/// 5 ms to 10 s).
inline std::vector<double> latency_seconds() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace buckets

/// `count` bounds: start, start + width, ... Throws on count < 1 or
/// width <= 0.
inline std::vector<double> linear_buckets(double start, double width,
                                          std::size_t count) {
  if (count < 1 || !(width > 0) || !std::isfinite(start)) {
    throw std::invalid_argument(
        "vigil: linear_buckets needs count >= 1, width > 0, finite start");
  }
  std::vector<double> bounds(count);
  for (std::size_t i = 0; i < count; ++i) {
    bounds[i] = start + width * static_cast<double>(i);
  }
  return bounds;
}

/// `count` bounds: start, start * factor, ... Throws on count < 1,
/// start <= 0 or factor <= 1.
inline std::vector<double> exponential_buckets(double start, double factor,
                                               std::size_t count) {
  if (count < 1 || !(start > 0) || !(factor > 1) || !std::isfinite(start)) {
    throw std::invalid_argument(
        "vigil: exponential_buckets needs count >= 1, start > 0, factor > 1");
  }
  std::vector<double> bounds(count);
  double bound = start;
  for (std::size_t i = 0; i < count; ++i, bound *= factor) bounds[i] = bound;
  return bounds;
}

VIGIL_NAMESPACE_END
