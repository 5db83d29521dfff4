#pragma once

#include <chrono>

#include "vigil/detail/cells.hpp"
#include "vigil/detail/compiler.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

template <class Handle>
class Family;

/// A gauge series: a value that goes up and down, or is set outright.
///
/// A gauge cannot be striped (set() must win over every earlier inc()), so
/// it is one atomic double: set() is a store, inc()/dec() a compare-and-swap
/// loop. Any value, NaN included, is accepted.
///
/// Thread-safety: all members may be called from any thread at once. The
/// handle stays valid as long as the Registry that created it.
///
///     vigil::Gauge depth = registry.gauge("queue_depth", "Items.").with({});
///     depth.inc();
///     depth.set(42);
class Gauge {
 public:
  /// Replaces the value.
  void set(double v) noexcept {
    if constexpr (!VIGIL_METRICS_ENABLED) return;
    detail::store_double(*cell_, v);
  }
  /// Adds `amount`.
  void inc(double amount = 1.0) noexcept {
    if constexpr (!VIGIL_METRICS_ENABLED) return;
    detail::add_shared(*cell_, amount);
  }
  /// Subtracts `amount`.
  void dec(double amount = 1.0) noexcept {
    if constexpr (!VIGIL_METRICS_ENABLED) return;
    detail::add_shared(*cell_, -amount);
  }
  /// Sets the gauge to the current Unix time in seconds.
  void set_to_current_time() noexcept {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    set(std::chrono::duration<double>(now).count());
  }
  /// The current value.
  double value() const noexcept { return detail::load_double(*cell_); }

 private:
  // Handles come from Family::with().
  template <class Handle>
  friend class Family;
  explicit Gauge(detail::Cell* cell) noexcept : cell_(cell) {}

  detail::Cell* cell_;
};

VIGIL_NAMESPACE_END
