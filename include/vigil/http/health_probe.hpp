#pragma once

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace http {

/// Which probes a check counts for; combine with `|`.
enum class Probe : unsigned {
  kLiveness = 1,   ///< /health/live: restart me if this fails
  kReadiness = 2,  ///< /health/ready: send me no traffic if this fails
  kStartup = 4,    ///< /health/started: I have not finished starting
};

/// The union of two probe sets, e.g. `Probe::kLiveness | Probe::kReadiness`.
constexpr Probe operator|(Probe a, Probe b) {
  return static_cast<Probe>(static_cast<unsigned>(a) |
                            static_cast<unsigned>(b));
}
/// Whether the probe set `set` includes `probe`.
constexpr bool has_probe(Probe set, Probe probe) {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(probe)) != 0;
}

}  // namespace http
VIGIL_NAMESPACE_END
