#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Where vigil's resilience components (CircuitBreaker, Retry, the Kafka lag
/// probe) read the time. Empty means std::chrono::steady_clock::now, which is
/// also what a production caller should want: injecting exists for tests.
using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

/// A clock that only moves when told to, so tests of time-dependent logic
/// never sleep and never race the wall clock.
///
/// Thread-safety: now() and advance() may be called from any thread at once;
/// the ManualClock must outlive every component it was handed to.
///
///     vigil::ManualClock clock;
///     vigil::CircuitBreakerOptions options;
///     options.clock = clock.source();
///     ...
///     clock.advance(std::chrono::seconds(30));  // the open wait elapses
class ManualClock {
 public:
  /// Readings are steady_clock time points, so code under test needs no
  /// changes.
  using time_point = std::chrono::steady_clock::time_point;

  /// Starts at an arbitrary non-zero point so code that treats the epoch as
  /// "never" is exercised the same way as with the real clock.
  ManualClock()
      : ns_(std::chrono::nanoseconds(std::chrono::hours(1)).count()) {}

  /// The current reading; moves only when advance() is called.
  time_point now() const noexcept {
    return time_point(std::chrono::nanoseconds(ns_.load()));
  }

  /// Moves the clock forward by `by`.
  void advance(std::chrono::nanoseconds by) noexcept {
    ns_.fetch_add(by.count());
  }

  /// A SteadyNow reading this clock.
  SteadyNow source() const {
    return [this] { return now(); };
  }

 private:
  std::atomic<std::int64_t> ns_;
};

VIGIL_NAMESPACE_END
