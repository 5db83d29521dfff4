#pragma once
// Liveness from a heartbeat: a service's main loop beats every iteration,
// and /health/live fails once it has not beaten for longer than a threshold.
// A process whose loop is stuck (deadlock, a call that never returns) keeps
// answering HTTP from other threads, so "the endpoint answers" alone would
// stay green forever; the heartbeat is what makes liveness mean something.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vigil/http/health.hpp>
#include <vigil/manual_clock.hpp>

namespace chat {

/// Thread-safety: beat() and check() may be called from any thread at once.
///
///     chat::Watchdog watchdog("poll_loop", std::chrono::seconds(30));
///     chat::add_liveness_check(health, watchdog);
///     while (running) { watchdog.beat(); ... }
class Watchdog {
 public:
  /// `loop` names the loop in the check's output; `now` is for tests
  /// (empty: steady_clock). Starts as if it had just beaten.
  Watchdog(std::string loop, std::chrono::milliseconds threshold,
           vigil::SteadyNow now = {})
      : loop_(std::move(loop)), threshold_(threshold), now_(std::move(now)) {
    beat();
  }

  /// The loop made progress.
  void beat() noexcept {
    last_beat_ns_.store(now().time_since_epoch().count(),
                        std::memory_order_relaxed);
  }

  /// How long since the last beat.
  std::chrono::nanoseconds silence() const {
    const std::chrono::steady_clock::time_point last{
        std::chrono::steady_clock::duration(
            last_beat_ns_.load(std::memory_order_relaxed))};
    return now() - last;
  }

  /// Fails once the silence exceeds the threshold; reports the silence in
  /// seconds as the observed value either way.
  vigil::http::CheckResult check() const {
    const auto quiet = silence();
    auto result =
        quiet > threshold_
            ? vigil::http::CheckResult::fail(
                  loop_ + " has not made progress for " +
                  std::to_string(
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          quiet)
                          .count()) +
                  " ms (threshold " + std::to_string(threshold_.count()) +
                  " ms)")
            : vigil::http::CheckResult::pass();
    result.observed_value = std::chrono::duration<double>(quiet).count();
    result.observed_unit = "s";
    return result;
  }

  const std::string& loop() const { return loop_; }

 private:
  std::chrono::steady_clock::time_point now() const {
    return now_ ? now_() : std::chrono::steady_clock::now();
  }

  const std::string loop_;
  const std::chrono::milliseconds threshold_;
  const vigil::SteadyNow now_;
  std::atomic<std::int64_t> last_beat_ns_{0};
};

/// Registers `watchdog` as a liveness check named after its loop, polled
/// every `interval`. The watchdog must outlive `health`'s check threads
/// (declare it first).
inline void add_liveness_check(
    vigil::http::HealthRegistry& health, const Watchdog& watchdog,
    std::chrono::milliseconds interval = std::chrono::seconds(1)) {
  vigil::http::CheckOptions options;
  options.probes = vigil::http::Probe::kLiveness;
  options.interval = interval;
  options.component_type = "component";
  health.add_check(watchdog.loop(), options,
                   [&watchdog] { return watchdog.check(); });
}

}  // namespace chat
