#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

#include "vigil/health_verdict.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace kafka {

/// A partition's consumer health, after Burrow's evaluation rules. Ordered
/// by severity.
enum class LagStatus : std::uint8_t {
  /// Caught up at some point in the window, or keeping pace.
  kOk = 0,
  /// Committing, but the lag grew across the whole window.
  kWarn = 1,
  /// The committed offset did not move across the window although there
  /// are messages to consume.
  kStall = 2,
  /// No commit for longer than `stop_after` although there are messages.
  kStop = 3,
};

/// The number of LagStatus values, whose underlying values are 0 to
/// kLagStatusCount - 1.
inline constexpr std::size_t kLagStatusCount = 4;

/// "ok", "warn", "stall", "stop".
inline const char* to_string(LagStatus status) noexcept {
  switch (status) {
    case LagStatus::kOk:
      return "ok";
    case LagStatus::kWarn:
      return "warn";
    case LagStatus::kStall:
      return "stall";
    case LagStatus::kStop:
      return "stop";
  }
  return "stop";
}

/// A readiness input: a consumer that is stalled or stopped fails (a restart
/// or a new pod may help); one that falls behind only warns.
inline HealthVerdict health_verdict(LagStatus status) noexcept {
  switch (status) {
    case LagStatus::kOk:
      return HealthVerdict::kPass;
    case LagStatus::kWarn:
      return HealthVerdict::kWarn;
    case LagStatus::kStall:
    case LagStatus::kStop:
      return HealthVerdict::kFail;
  }
  return HealthVerdict::kFail;
}

/// Settings of a LagEvaluator.
struct LagEvaluatorOptions {
  /// Samples judged together (Burrow's default window is 10 offsets).
  std::size_t window = 10;
  /// STOP after this long without the committed offset moving.
  std::chrono::nanoseconds stop_after = std::chrono::minutes(5);
};

/// Judges one partition from the samples the lag probe takes, by Burrow's
/// rules in order of severity:
///   STOP   lag > 0 and the committed offset has not moved for stop_after;
///   OK     the lag was 0 in some sample of the window (it keeps up), or the
///          window is not full yet, or nothing was ever committed (lag -1);
///   STALL  the committed offset is the same in every sample of the window;
///   WARN   it moved, but the lag never shrank and ended higher;
///   OK     otherwise.
///
/// Thread-safety: none; one owner.
///
///     vigil::kafka::LagEvaluator eval;
///     eval.add(committed, lag, now);
///     if (eval.status(now) == vigil::kafka::LagStatus::kStall) ...
class LagEvaluator {
 public:
  /// When a sample was taken, on the steady clock.
  using time_point = std::chrono::steady_clock::time_point;

  /// A window below 2 samples is raised to 2: a trend needs two.
  explicit LagEvaluator(LagEvaluatorOptions options = {}) : options_(options) {
    if (options_.window < 2) options_.window = 2;
  }

  /// One sample: committed offset (negative: none) and lag (-1: unknown).
  void add(std::int64_t committed, std::int64_t lag, time_point at) {
    if (samples_.empty() || samples_.back().committed != committed) {
      last_move_ = at;
    }
    samples_.push_back({committed, lag});
    if (samples_.size() > options_.window) samples_.pop_front();
  }

  /// The status at `now` by the rules above; OK before the first sample.
  LagStatus status(time_point now) const {
    if (samples_.empty()) return LagStatus::kOk;
    const Sample& last = samples_.back();
    if (last.committed < 0 || last.lag <= 0) return LagStatus::kOk;
    if (now - last_move_ > options_.stop_after) return LagStatus::kStop;
    for (const auto& s : samples_) {
      if (s.lag == 0) return LagStatus::kOk;
    }
    if (samples_.size() < options_.window) return LagStatus::kOk;
    const Sample& first = samples_.front();
    if (first.committed == last.committed) return LagStatus::kStall;
    for (std::size_t i = 1; i < samples_.size(); ++i) {
      if (samples_[i].lag < samples_[i - 1].lag) return LagStatus::kOk;
    }
    return last.lag > first.lag ? LagStatus::kWarn : LagStatus::kOk;
  }

 private:
  struct Sample {
    std::int64_t committed;
    std::int64_t lag;
  };
  LagEvaluatorOptions options_;
  std::deque<Sample> samples_;
  time_point last_move_{};
};

}  // namespace kafka
VIGIL_NAMESPACE_END
