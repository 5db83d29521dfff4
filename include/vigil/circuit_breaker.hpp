#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "vigil/circuit_breaker_options.hpp"
#include "vigil/circuit_open_error.hpp"
#include "vigil/circuit_state.hpp"
#include "vigil/circuit_transition.hpp"
#include "vigil/counter.hpp"
#include "vigil/detail/compiler.hpp"
#include "vigil/detail/sliding_window.hpp"
#include "vigil/gauge.hpp"
#include "vigil/health_verdict.hpp"
#include "vigil/manual_clock.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN

/// Stops calling a dependency that keeps failing, so a service sheds load
/// fast instead of queueing on timeouts, and probes it again after a wait.
///
/// CLOSED admits every call and watches outcomes: it opens after
/// `consecutive_failures` failures in a row, or when the failure (or slow
/// call) rate over a sliding window reaches its threshold. OPEN rejects
/// calls for `open_wait` (growing with repeated trips), then HALF_OPEN
/// admits `half_open_trial_calls` trials: all succeed and it closes, one
/// fails and it opens again. force_open(), disable() and reset() are the
/// operator's overrides. Every call, rejection and transition is counted in
/// `registry`:
///
///     vigil_circuit_breaker_state{name,state}  1 for the current state
///     vigil_circuit_breaker_calls_total{name,outcome}
///         (outcome: success, failure, slow or rejected)
///     vigil_circuit_breaker_transitions_total{name,from,to}
///
/// Thread-safety: every member may be called from any thread at once. In
/// CLOSED and DISABLED, acquiring a permit and reporting its outcome take no
/// lock (a few atomic operations); only transitions lock. Listeners run on
/// the thread that caused the transition, in order, under that lock: they
/// may read the breaker but must not call its force_open, disable, reset or
/// add_listener. The breaker must outlive its permits.
///
///     vigil::CircuitBreaker crm("crm", registry);
///     auto contact = crm.call([&] { return client.get_contact(id); });
///
///     // async: the outcome arrives later
///     if (auto permit = crm.try_acquire()) {
///       client.async_send(msg, [p = std::move(permit)](error_code e) mutable {
///         e ? p.failure() : p.success();
///       });
///     } else {
///       store_for_later(msg);
///     }
///
/// Outcomes of permits taken in an earlier state (e.g. calls still running
/// when it opened) are counted in the metrics but do not move the state.
class CircuitBreaker {
 public:
  /// The right to make one call. Report its outcome with success(),
  /// failure() or ignore(); a permit destroyed without an outcome counts
  /// as ignore(). A rejected permit is false and its outcome calls do
  /// nothing. Move-only; not thread-safe itself (one call, one owner).
  class Permit {
   public:
    Permit() = default;
    /// Takes over the outcome duty; `other` becomes a rejected permit.
    Permit(Permit&& other) noexcept
        : breaker_(std::exchange(other.breaker_, nullptr)),
          word_(other.word_),
          start_ns_(other.start_ns_) {}
    /// Reports ignore() for the permit held, then takes over `other`'s.
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        ignore();
        breaker_ = std::exchange(other.breaker_, nullptr);
        word_ = other.word_;
        start_ns_ = other.start_ns_;
      }
      return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { ignore(); }

    /// True when the call may go ahead and no outcome was reported yet.
    explicit operator bool() const noexcept { return breaker_ != nullptr; }

    /// The call succeeded (and counts as slow if it took too long).
    void success() noexcept { finish(Result::kSuccess); }
    /// The call failed.
    void failure() noexcept { finish(Result::kFailure); }
    /// Neither outcome (e.g. the caller cancelled): not counted, and a
    /// half-open trial slot is given back.
    void ignore() noexcept { finish(Result::kIgnored); }

   private:
    friend class CircuitBreaker;
    enum class Result { kSuccess, kFailure, kIgnored };
    Permit(CircuitBreaker* breaker, std::uint64_t word,
           std::int64_t start_ns) noexcept
        : breaker_(breaker), word_(word), start_ns_(start_ns) {}
    void finish(Result result) noexcept {
      if (breaker_ != nullptr) {
        std::exchange(breaker_, nullptr)->complete(word_, start_ns_, result);
      }
    }

    CircuitBreaker* breaker_ = nullptr;
    std::uint64_t word_ = 0;
    std::int64_t start_ns_ = 0;
  };

  /// Called on every state change, on the thread that caused it.
  using Listener = std::function<void(const CircuitTransition&)>;

  /// Throws std::invalid_argument for inconsistent options.
  CircuitBreaker(std::string name, Registry& registry,
                 CircuitBreakerOptions options = {})
      : name_(std::move(name)),
        options_(std::move(options)),
        timed_(options_.slow_call_duration.count() > 0),
        slow_ns_(options_.slow_call_duration.count()),
        transitions_(registry.counter("vigil_circuit_breaker_transitions_total",
                                      "State changes of each circuit breaker.",
                                      {"name", "from", "to"})),
        success_(calls_family(registry).with({name_, "success"})),
        failure_(calls_family(registry).with({name_, "failure"})),
        slow_(calls_family(registry).with({name_, "slow"})),
        rejected_(calls_family(registry).with({name_, "rejected"})),
        state_gauges_(make_state_gauges(registry, name_)) {
    validate();
    const bool rate_rules = options_.failure_rate_threshold > 0 ||
                            (timed_ && options_.slow_call_rate_threshold > 0);
    if (rate_rules && options_.window_type == SlidingWindowType::kCount) {
      count_window_ =
          std::make_unique<detail::CountWindow>(options_.window_size);
    } else if (rate_rules) {
      time_window_ =
          std::make_unique<detail::TimeWindow>(options_.window_duration);
    }
    minimum_calls_ =
        options_.window_type == SlidingWindowType::kCount
            ? std::min(options_.minimum_calls, options_.window_size)
            : options_.minimum_calls;
    for (std::size_t i = 0; i < kCircuitStateCount; ++i) {
      state_gauges_[i].set(i == 0 ? 1 : 0);
    }
  }
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// A permit if the breaker admits a call now, else a false permit (and
  /// the rejection is counted).
  Permit try_acquire() noexcept {
    const std::uint64_t word = state_.load(std::memory_order_acquire);
    const CircuitState s = state_of(word);
    if (VIGIL_LIKELY(s == CircuitState::kClosed ||
                     s == CircuitState::kDisabled)) {
      return Permit(this, word, timed_ ? now_ns() : 0);
    }
    return acquire_slow(word);
  }

  /// Runs `fn` if admitted, timing it and recording its outcome; throws
  /// CircuitOpenError if rejected. An exception from `fn` is recorded (as
  /// options.is_failure says) and rethrown.
  template <class F>
  std::invoke_result_t<F&> call(F&& fn) {
    return call(std::forward<F>(fn), [](const auto&...) { return false; });
  }

  /// As call(fn), and a returned value for which `result_is_failure` is true
  /// counts as a failure (e.g. an HTTP 503 that did not throw).
  template <class F, class IsFailure>
  std::invoke_result_t<F&> call(F&& fn, IsFailure&& result_is_failure) {
    using R = std::invoke_result_t<F&>;
    Permit permit = try_acquire();
    if (!permit) throw CircuitOpenError(name_, state());
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn);
        permit.success();
      } else {
        R result = std::invoke(fn);
        if (result_is_failure(std::as_const(result))) {
          permit.failure();
        } else {
          permit.success();
        }
        return result;
      }
    } catch (...) {
      if (!options_.is_failure ||
          options_.is_failure(std::current_exception())) {
        permit.failure();
      } else {
        permit.success();
      }
      throw;
    }
  }

  /// The current state.
  CircuitState state() const noexcept {
    return state_of(state_.load(std::memory_order_acquire));
  }
  /// The current state as a health verdict (see health_verdict()).
  HealthVerdict health() const noexcept { return health_verdict(state()); }
  /// The `name` label of this breaker's metrics.
  const std::string& name() const noexcept { return name_; }

  /// Rejects every call until reset().
  void force_open() {
    operator_transition(CircuitState::kForcedOpen, "forced_open");
  }
  /// Admits every call and never trips until reset(); outcomes are still
  /// counted.
  void disable() { operator_transition(CircuitState::kDisabled, "disabled"); }
  /// Back to CLOSED with an empty window and the open wait back at its base.
  void reset() { operator_transition(CircuitState::kClosed, "reset"); }

  /// Called on every transition; see the class comment for the rules.
  void add_listener(Listener listener) {
    std::lock_guard<std::mutex> lock(mutex_);
    listeners_.push_back(std::move(listener));
  }

 private:
  // The state word: the state in the low 3 bits, a transition count above.
  // Permits carry the word they were granted under, so an outcome can tell
  // whether it still belongs to the current state.
  static constexpr unsigned kStateBits = 3;
  static CircuitState state_of(std::uint64_t word) noexcept {
    return static_cast<CircuitState>(word & ((1u << kStateBits) - 1));
  }
  // Half-open bookkeeping in one word, so a thread delayed across two
  // transitions cannot take or return a slot of a later HALF_OPEN:
  // transition count (low 32 bits) << 32 | trials issued << 16 | successes.
  static std::uint64_t trial_epoch(std::uint64_t word) noexcept {
    return (word >> kStateBits) & 0xFFFFFFFFu;
  }

  static CounterFamily& calls_family(Registry& registry) {
    return registry.counter(
        "vigil_circuit_breaker_calls_total",
        "Calls through each circuit breaker by outcome: success, failure, "
        "slow (succeeded but slow) or rejected.",
        {"name", "outcome"});
  }
  static std::array<Gauge, kCircuitStateCount> make_state_gauges(
      Registry& registry, const std::string& name) {
    auto& family = registry.gauge(
        "vigil_circuit_breaker_state",
        "1 for the current state of each circuit breaker, 0 for the others.",
        {"name", "state"});
    auto gauge = [&](CircuitState s) {
      return family.with({name, to_string(s)});
    };
    return {gauge(CircuitState::kClosed), gauge(CircuitState::kOpen),
            gauge(CircuitState::kHalfOpen), gauge(CircuitState::kForcedOpen),
            gauge(CircuitState::kDisabled)};
  }

  void validate() const {
    const auto& o = options_;
    auto fail = [&](const char* what) {
      throw std::invalid_argument("vigil: circuit breaker '" + name_ +
                                  "': " + what);
    };
    if (!(o.failure_rate_threshold >= 0 && o.failure_rate_threshold <= 100) ||
        !(o.slow_call_rate_threshold >= 0 &&
          o.slow_call_rate_threshold <= 100)) {
      fail("rate thresholds must be percentages in [0, 100]");
    }
    if (o.window_type == SlidingWindowType::kCount && o.window_size == 0) {
      fail("window_size must be positive");
    }
    if (o.window_type == SlidingWindowType::kTime &&
        o.window_duration.count() <
            static_cast<std::int64_t>(detail::TimeWindow::kBuckets)) {
      fail("window_duration is too short");
    }
    if (o.half_open_trial_calls == 0 || o.half_open_trial_calls > 0xFFFF) {
      fail("half_open_trial_calls must be in [1, 65535]");
    }
    if (o.open_wait.count() < 0 || o.max_open_wait < o.open_wait ||
        !(o.open_wait_multiplier >= 1)) {
      fail(
          "open_wait must be >= 0, max_open_wait >= open_wait and "
          "open_wait_multiplier >= 1");
    }
  }

  std::int64_t now_ns() const noexcept {
    const auto now =
        options_.clock ? options_.clock() : std::chrono::steady_clock::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               now.time_since_epoch())
        .count();
  }

  VIGIL_NOINLINE Permit acquire_slow(std::uint64_t word) noexcept {
    for (;;) {
      switch (state_of(word)) {
        case CircuitState::kClosed:
        case CircuitState::kDisabled:
          return Permit(this, word, timed_ ? now_ns() : 0);
        case CircuitState::kOpen: {
          if (now_ns() < open_until_ns_.load(std::memory_order_relaxed)) {
            rejected_.inc();
            return Permit();
          }
          guarded_transition(word, CircuitState::kHalfOpen, "wait_elapsed");
          word = state_.load(std::memory_order_acquire);
          continue;
        }
        case CircuitState::kHalfOpen: {
          if (take_trial(word))
            return Permit(this, word, timed_ ? now_ns() : 0);
          const std::uint64_t now = state_.load(std::memory_order_acquire);
          if (now != word) {  // moved on while we looked: decide again
            word = now;
            continue;
          }
          rejected_.inc();
          return Permit();
        }
        case CircuitState::kForcedOpen:
          rejected_.inc();
          return Permit();
      }
    }
  }

  bool take_trial(std::uint64_t word) noexcept {
    const std::uint64_t epoch = trial_epoch(word);
    std::uint64_t t = trials_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t issued = (t >> 16) & 0xFFFF;
      if ((t >> 32) != epoch || issued >= options_.half_open_trial_calls) {
        return false;
      }
      if (trials_.compare_exchange_weak(t, t + (1u << 16),
                                        std::memory_order_acq_rel)) {
        return true;
      }
    }
  }

  void complete(std::uint64_t word, std::int64_t start_ns,
                Permit::Result result) noexcept {
    const CircuitState granted = state_of(word);
    const bool needs_now =
        result != Permit::Result::kIgnored &&
        (timed_ || (granted == CircuitState::kClosed && time_window_));
    const std::int64_t now = needs_now ? now_ns() : 0;
    const bool slow = timed_ && result != Permit::Result::kIgnored &&
                      now - start_ns >= slow_ns_;
    switch (result) {
      case Permit::Result::kSuccess:
        (slow ? slow_ : success_).inc();
        break;
      case Permit::Result::kFailure:
        failure_.inc();
        break;
      case Permit::Result::kIgnored:
        break;
    }
    if (state_.load(std::memory_order_acquire) != word) return;  // stale
    if (granted == CircuitState::kClosed) {
      on_closed_outcome(word, result, slow, now);
    } else if (granted == CircuitState::kHalfOpen) {
      on_trial_outcome(word, result, slow);
    }
  }

  void on_closed_outcome(std::uint64_t word, Permit::Result result, bool slow,
                         std::int64_t now) noexcept {
    if (result == Permit::Result::kIgnored) return;
    const bool failed = result == Permit::Result::kFailure;
    if (!failed) {
      if (consecutive_.load(std::memory_order_relaxed) != 0) {
        consecutive_.store(0, std::memory_order_relaxed);
      }
    } else if (options_.consecutive_failures != 0 &&
               consecutive_.fetch_add(1, std::memory_order_relaxed) + 1 >=
                   options_.consecutive_failures) {
      guarded_transition(word, CircuitState::kOpen, "consecutive_failures");
      return;
    }
    const std::uint8_t bits = static_cast<std::uint8_t>(
        detail::kCallRecorded | (failed ? detail::kCallFailed : 0) |
        (slow ? detail::kCallSlow : 0));
    // The rates are checked after every recorded outcome, successes
    // included, as resilience4j does: a success can be the call that brings
    // the window to minimum_calls, and in a time window old successes
    // expiring can raise a rate between two failures.
    detail::WindowCounts c;
    if (count_window_) {
      if (failed || slow) {
        count_window_->record_other(bits);
      } else if (!count_window_->record_success()) {
        return;  // only fast successes in the window: both rates are zero
      }
      c = count_window_->counts();
    } else if (time_window_) {
      time_window_->record(bits, now);
      c = time_window_->counts(now);
    } else {
      return;
    }
    if (c.calls < minimum_calls_) return;
    const double calls = static_cast<double>(c.calls);
    if (options_.failure_rate_threshold > 0 &&
        static_cast<double>(c.failures) * 100 >=
            options_.failure_rate_threshold * calls) {
      guarded_transition(word, CircuitState::kOpen, "failure_rate");
    } else if (timed_ && options_.slow_call_rate_threshold > 0 &&
               static_cast<double>(c.slow) * 100 >=
                   options_.slow_call_rate_threshold * calls) {
      guarded_transition(word, CircuitState::kOpen, "slow_call_rate");
    }
  }

  void on_trial_outcome(std::uint64_t word, Permit::Result result,
                        bool slow) noexcept {
    const std::uint64_t epoch = trial_epoch(word);
    // A slow trial is a failed one when slowness can trip the breaker:
    // closing on it would only trip again.
    const bool failed = result == Permit::Result::kFailure ||
                        (result == Permit::Result::kSuccess && slow &&
                         options_.slow_call_rate_threshold > 0);
    if (failed) {
      guarded_transition(word, CircuitState::kOpen, "trial_failed");
      return;
    }
    std::uint64_t t = trials_.load(std::memory_order_acquire);
    for (;;) {
      if ((t >> 32) != epoch) return;
      const std::uint64_t next =
          result == Permit::Result::kIgnored ? t - (1u << 16) : t + 1;
      if (trials_.compare_exchange_weak(t, next, std::memory_order_acq_rel)) {
        if (result == Permit::Result::kSuccess &&
            (next & 0xFFFF) >= options_.half_open_trial_calls) {
          guarded_transition(word, CircuitState::kClosed, "trials_succeeded");
        }
        return;
      }
    }
  }

  /// Moves from the state `expected` describes, unless another thread moved
  /// first (then its decision stands). Noexcept: a listener that throws
  /// terminates, like any exception escaping a destructor would.
  void guarded_transition(std::uint64_t expected, CircuitState to,
                          const char* reason) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_.load(std::memory_order_relaxed) != expected) return;
    transition_locked(to, reason);
  }

  void operator_transition(CircuitState to, const char* reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_of(state_.load(std::memory_order_relaxed)) == to &&
        to != CircuitState::kClosed) {
      return;
    }
    trips_ = 0;
    transition_locked(to, reason);
  }

  void transition_locked(CircuitState to, const char* reason) noexcept {
    const std::uint64_t old_word = state_.load(std::memory_order_relaxed);
    const CircuitState from = state_of(old_word);
    const std::uint64_t word = (((old_word >> kStateBits) + 1) << kStateBits) |
                               static_cast<std::uint64_t>(to);
    const std::int64_t now = now_ns();
    std::chrono::nanoseconds wait{0};
    switch (to) {
      case CircuitState::kClosed:
        trips_ = 0;
        consecutive_.store(0, std::memory_order_relaxed);
        if (count_window_) count_window_->reset();
        if (time_window_) time_window_->reset();
        break;
      case CircuitState::kOpen:
        wait = open_wait_for_trip(++trips_);
        open_until_ns_.store(now + wait.count(), std::memory_order_relaxed);
        break;
      case CircuitState::kHalfOpen:
        trials_.store(trial_epoch(word) << 32, std::memory_order_release);
        break;
      case CircuitState::kForcedOpen:
      case CircuitState::kDisabled:
        break;
    }
    state_.store(word, std::memory_order_release);
    state_gauges_[static_cast<std::size_t>(from)].set(0);
    state_gauges_[static_cast<std::size_t>(to)].set(1);
    if (from != to) {
      transitions_.with({name_, to_string(from), to_string(to)}).inc();
    }
    const CircuitTransition event{
        name_,
        from,
        to,
        reason,
        std::chrono::steady_clock::time_point(std::chrono::nanoseconds(now)),
        wait};
    for (const auto& listener : listeners_) listener(event);
  }

  std::chrono::nanoseconds open_wait_for_trip(unsigned trip) const noexcept {
    const double base = static_cast<double>(options_.open_wait.count());
    const double cap = static_cast<double>(options_.max_open_wait.count());
    const double grown =
        base * std::pow(options_.open_wait_multiplier,
                        static_cast<double>(trip > 0 ? trip - 1 : 0));
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::min(grown, cap)));
  }

  const std::string name_;
  const CircuitBreakerOptions options_;
  const bool timed_;
  const std::int64_t slow_ns_;
  std::uint32_t minimum_calls_ = 0;

  // Hot, read on every call.
  std::atomic<std::uint64_t> state_{
      static_cast<std::uint64_t>(CircuitState::kClosed)};
  std::atomic<std::uint32_t> consecutive_{0};
  std::unique_ptr<detail::CountWindow> count_window_;
  std::unique_ptr<detail::TimeWindow> time_window_;
  std::atomic<std::int64_t> open_until_ns_{0};
  std::atomic<std::uint64_t> trials_{0};

  CounterFamily& transitions_;
  Counter success_;
  Counter failure_;
  Counter slow_;
  Counter rejected_;
  std::array<Gauge, kCircuitStateCount> state_gauges_;

  std::mutex mutex_;    // serialises transitions and listeners_
  unsigned trips_ = 0;  // trips since the last close; guarded by mutex_
  std::vector<Listener> listeners_;
};

VIGIL_NAMESPACE_END
