#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "vigil/circuit_breaker.hpp"
#include "vigil/counter.hpp"
#include "vigil/manual_clock.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Settings of a Retry.
struct RetryOptions {
  /// Attempts in total, the first included.
  std::uint32_t max_attempts = 3;
  /// Upper bound of the first backoff; later ones grow by the multiplier.
  std::chrono::nanoseconds initial_backoff = std::chrono::milliseconds(100);
  /// Growth of the backoff's upper bound from one attempt to the next.
  double backoff_multiplier = 2.0;
  /// Cap of the backoff's upper bound.
  std::chrono::nanoseconds max_backoff = std::chrono::seconds(10);
  /// Gives up rather than start a wait that would end past this much time
  /// since the first attempt. Zero: no limit.
  std::chrono::nanoseconds max_elapsed{0};
  /// Whether a failure is worth retrying (timeouts are; a rejected request
  /// is not). Empty: every exception is.
  std::function<bool(const std::exception_ptr&)> retryable;
  /// Empty: std::chrono::steady_clock.
  SteadyNow clock;
  /// Empty: std::this_thread::sleep_for.
  std::function<void(std::chrono::nanoseconds)> sleep;
  /// Uniform in [0, 1). Empty: a per-thread std::mt19937_64 seeded from
  /// std::random_device. Must be thread-safe if the Retry is shared.
  std::function<double()> random;
};

/// Runs an operation again after transient failures, waiting an
/// exponentially growing, fully jittered backoff in between ("full jitter":
/// a uniform draw in [0, min(max_backoff, initial * multiplier^n)]), which
/// spreads the retries of many clients instead of synchronising them.
///
/// Counts every attempt in vigil_retry_attempts_total{operation} and every
/// give-up in vigil_retry_give_ups_total{operation,reason}, reason being
/// max_attempts, max_elapsed, not_retryable or circuit_open.
///
/// Composed with a CircuitBreaker, each attempt goes through the breaker and
/// there is no retry while it is open: the caller gets the last error (or
/// CircuitOpenError) at once instead of sleeping against an open breaker.
///
/// Thread-safety: run() may be called from any thread at once (with the
/// default random source, or an injected thread-safe one).
///
///     vigil::Retry send("crm_send", registry);
///     auto id = send.run(breaker, [&] { return crm.send(message); });
///
/// Async code that schedules its own timers uses backoff(n) for the n-th
/// retry's wait.
class Retry {
 public:
  /// Throws std::invalid_argument for inconsistent options.
  Retry(std::string operation, Registry& registry, RetryOptions options = {})
      : operation_(std::move(operation)),
        options_(std::move(options)),
        attempts_(registry
                      .counter("vigil_retry_attempts_total",
                               "Attempts of each retried operation, first "
                               "attempts included.",
                               {"operation"})
                      .with({operation_})),
        give_up_max_attempts_(
            give_ups(registry).with({operation_, "max_attempts"})),
        give_up_max_elapsed_(
            give_ups(registry).with({operation_, "max_elapsed"})),
        give_up_not_retryable_(
            give_ups(registry).with({operation_, "not_retryable"})),
        give_up_circuit_open_(
            give_ups(registry).with({operation_, "circuit_open"})) {
    if (options_.max_attempts == 0 || options_.initial_backoff.count() < 0 ||
        options_.max_backoff < options_.initial_backoff ||
        !(options_.backoff_multiplier >= 1) ||
        options_.max_elapsed.count() < 0) {
      throw std::invalid_argument(
          "vigil: retry '" + operation_ +
          "': needs max_attempts >= 1, 0 <= initial_backoff <= max_backoff, "
          "backoff_multiplier >= 1 and max_elapsed >= 0");
    }
  }

  /// Calls `fn` until it returns, a failure is not retryable, or the limits
  /// are reached; then rethrows the last exception.
  template <class F>
  std::invoke_result_t<F&> run(F&& fn) {
    return run_impl(fn, nullptr);
  }

  /// As run(fn), each attempt being breaker.call(fn).
  template <class F>
  std::invoke_result_t<F&> run(CircuitBreaker& breaker, F&& fn) {
    return run_impl(fn, &breaker);
  }

  /// The jittered wait before retry `n` (1 for the first retry).
  std::chrono::nanoseconds backoff(std::uint32_t n) const {
    const double bound =
        std::min(static_cast<double>(options_.max_backoff.count()),
                 static_cast<double>(options_.initial_backoff.count()) *
                     std::pow(options_.backoff_multiplier,
                              static_cast<double>(n > 0 ? n - 1 : 0)));
    const double r = options_.random ? options_.random() : default_random();
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::clamp(r, 0.0, 1.0) * bound));
  }

  /// The `operation` label of this retry's metrics.
  const std::string& operation() const noexcept { return operation_; }

 private:
  static CounterFamily& give_ups(Registry& registry) {
    return registry.counter(
        "vigil_retry_give_ups_total",
        "Retried operations that failed for good, by reason: max_attempts, "
        "max_elapsed, not_retryable or circuit_open.",
        {"operation", "reason"});
  }

  static double default_random() {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  }

  std::chrono::steady_clock::time_point now() const {
    return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
  }

  template <class F>
  std::invoke_result_t<F&> run_impl(F& fn, CircuitBreaker* breaker) {
    const auto start = now();
    for (std::uint32_t attempt = 1;; ++attempt) {
      attempts_.inc();
      try {
        if (breaker != nullptr) return breaker->call(fn);
        return std::invoke(fn);
      } catch (const CircuitOpenError&) {
        give_up_circuit_open_.inc();
        throw;
      } catch (...) {
        if (options_.retryable &&
            !options_.retryable(std::current_exception())) {
          give_up_not_retryable_.inc();
          throw;
        }
        if (attempt >= options_.max_attempts) {
          give_up_max_attempts_.inc();
          throw;
        }
        if (breaker != nullptr && breaker_refuses(breaker->state())) {
          give_up_circuit_open_.inc();
          throw;
        }
        const auto wait = backoff(attempt);
        if (options_.max_elapsed.count() > 0 &&
            now() - start + wait > options_.max_elapsed) {
          give_up_max_elapsed_.inc();
          throw;
        }
        if (options_.sleep) {
          options_.sleep(wait);
        } else {
          std::this_thread::sleep_for(wait);
        }
      }
    }
  }

  static bool breaker_refuses(CircuitState state) noexcept {
    return state == CircuitState::kOpen || state == CircuitState::kForcedOpen;
  }

  const std::string operation_;
  const RetryOptions options_;
  Counter attempts_;
  Counter give_up_max_attempts_;
  Counter give_up_max_elapsed_;
  Counter give_up_not_retryable_;
  Counter give_up_circuit_open_;
};

VIGIL_NAMESPACE_END
