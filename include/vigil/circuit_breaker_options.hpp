#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>

#include "vigil/manual_clock.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

enum class SlidingWindowType {
  /// The last `window_size` calls.
  kCount,
  /// The calls of the last `window_duration`, in ten buckets.
  kTime,
};

/// Settings of a CircuitBreaker. The defaults, and where and why they differ
/// from resilience4j's, are recorded in docs/adr/0002-circuit-breaker.md.
struct CircuitBreakerOptions {
  /// Opens after this many failures in a row; 0 turns the rule off.
  std::uint32_t consecutive_failures = 5;
  /// Opens when at least this percentage of the window's calls failed;
  /// 0 turns the rule off.
  double failure_rate_threshold = 50;
  /// A call lasting at least this long is slow. Zero (the default) means no
  /// call is ever slow, and then the closed state reads no clock at all.
  std::chrono::nanoseconds slow_call_duration{0};
  /// Opens when at least this percentage of the window's calls were slow;
  /// 0 turns the rule off. Needs slow_call_duration.
  double slow_call_rate_threshold = 100;
  /// Whether the failure and slow-call rates are over the last calls or the
  /// last seconds.
  SlidingWindowType window_type = SlidingWindowType::kCount;
  /// Calls in a count-based window.
  std::uint32_t window_size = 100;
  /// Span of a time-based window.
  std::chrono::nanoseconds window_duration = std::chrono::seconds(60);
  /// The rate rules wait until the window holds this many calls (capped at
  /// window_size for count-based windows).
  std::uint32_t minimum_calls = 20;
  /// How long the breaker stays open after its first trip.
  std::chrono::nanoseconds open_wait = std::chrono::seconds(10);
  /// Each further trip without a successful close in between multiplies
  /// the wait by this (1 keeps it constant)...
  double open_wait_multiplier = 2.0;
  /// ...up to this.
  std::chrono::nanoseconds max_open_wait = std::chrono::minutes(5);
  /// Trial calls admitted in HALF_OPEN; all must succeed to close, the first
  /// failure re-opens.
  std::uint32_t half_open_trial_calls = 3;
  /// Whether an exception thrown through call() is a failure. Returning
  /// false counts the call as a success (e.g. a 404 proves the remote side
  /// is up). Empty: every exception is a failure.
  std::function<bool(const std::exception_ptr&)> is_failure;
  /// Empty: std::chrono::steady_clock. Tests pass ManualClock::source().
  SteadyNow clock;
};

VIGIL_NAMESPACE_END
