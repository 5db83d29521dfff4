#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

#include "vigil/health_verdict.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace kafka {

/// A partition's consumer health, after Burrow's partition statuses. The
/// values are exported (kafka_consumergroup_partition_status) and ordered by
/// severity: the group reports its worst partition.
enum class LagStatus : std::uint8_t {
  /// Caught up at some point in the window, keeping pace, or not judged yet.
  kOk = 0,
  /// Committing, but the lag never shrank from one commit to the next
  /// across the window (fixed or increasing): the consumer is slow.
  kWarn = 1,
  /// Committing, but always the same offset although there are messages.
  kStall = 2,
  /// No commit for longer than the window spans although there are
  /// messages: the consumer stopped committing.
  kStop = 3,
  /// The committed offset went backwards within the window (a reset or a
  /// replay).
  kRewind = 4,
};

/// The number of LagStatus values, whose underlying values are 0 to
/// kLagStatusCount - 1.
inline constexpr std::size_t kLagStatusCount = 5;

/// "ok", "warn", "stall", "stop", "rewind".
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
    case LagStatus::kRewind:
      return "rewind";
  }
  return "rewind";
}

/// A consumer group's status, after Burrow's: ERR when any partition is
/// STALL, STOP or REWIND, else WARN when any is WARN, else OK.
enum class GroupLagStatus : std::uint8_t { kOk = 0, kWarn = 1, kErr = 2 };

/// "ok", "warn", "err".
inline const char* to_string(GroupLagStatus status) noexcept {
  switch (status) {
    case GroupLagStatus::kOk:
      return "ok";
    case GroupLagStatus::kWarn:
      return "warn";
    case GroupLagStatus::kErr:
      return "err";
  }
  return "err";
}

/// The group status of a group whose worst partition status is `worst`.
inline GroupLagStatus group_status(LagStatus worst) noexcept {
  switch (worst) {
    case LagStatus::kOk:
      return GroupLagStatus::kOk;
    case LagStatus::kWarn:
      return GroupLagStatus::kWarn;
    case LagStatus::kStall:
    case LagStatus::kStop:
    case LagStatus::kRewind:
      return GroupLagStatus::kErr;
  }
  return GroupLagStatus::kErr;
}

/// A readiness input: an ERR consumer (stalled, stopped, rewound) fails (a
/// restart or a new pod may help); one that falls behind only warns.
inline HealthVerdict health_verdict(LagStatus status) noexcept {
  switch (group_status(status)) {
    case GroupLagStatus::kOk:
      return HealthVerdict::kPass;
    case GroupLagStatus::kWarn:
      return HealthVerdict::kWarn;
    case GroupLagStatus::kErr:
      return HealthVerdict::kFail;
  }
  return HealthVerdict::kFail;
}

/// Settings of a LagEvaluator.
struct LagEvaluatorOptions {
  /// Commits judged together (Burrow's default window is 10 offsets).
  std::size_t window = 10;
  /// The least silence that reads as STOP, however short the window's span:
  /// a window of one or two commits spans too little to judge by.
  std::chrono::nanoseconds stop_after = std::chrono::minutes(5);
};

/// Judges one partition by Burrow's evaluation rules, over a window of the
/// last `window` commits (not samples: a group that commits every 100 s
/// and is sampled every 10 s is judged over 10 commits, 1000 s).
///
/// A commit enters the window by commit(), or by add() when a sample sees a
/// committed offset other than the last one's; each keeps its offset, the
/// lag when it was seen and when. A sample of the same offset only updates
/// the current lag. The status at `now`, in Burrow's order:
///   OK     the current lag is 0 or unknown;
///   STOP   now - last commit > max(last - first commit, stop_after), and
///          no sample in the last stop_after had lag 0 (checked before the
///          window's lags, which may be old: a consumer that caught up and
///          then died has only zero-lag commits);
///   OK     some commit in the window had lag 0 (the consumer keeps up);
///   REWIND some commit's offset is below the one before it;
///   OK     the window is not full yet (STALL and WARN judge a trend);
///   STALL  every commit in the window has the same offset;
///   WARN   the lag never shrank from one commit to the next;
///   OK     otherwise.
/// add() sees offsets, not commit requests, so a consumer committing the
/// same offset over and over reads STOP, not STALL, unless commit() is fed.
///
/// Thread-safety: none; one owner.
///
///     vigil::kafka::LagEvaluator eval;
///     eval.add(committed, lag, now);
///     if (eval.status(now) == vigil::kafka::LagStatus::kStop) ...
class LagEvaluator {
 public:
  /// When a sample was taken, on the steady clock.
  using time_point = std::chrono::steady_clock::time_point;

  /// A window below 2 commits is raised to 2: a trend needs two.
  explicit LagEvaluator(LagEvaluatorOptions options = {}) : options_(options) {
    if (options_.window < 2) options_.window = 2;
  }

  /// One sample: committed offset (negative: none) and lag (-1: unknown).
  /// A committed offset other than the last commit's is a commit.
  void add(std::int64_t committed, std::int64_t lag, time_point at) {
    observe(committed < 0 ? -1 : lag, at);
    if (committed < 0) return;
    if (commits_.empty() || commits_.back().offset != committed) {
      push({committed, lag, at});
    }
  }

  /// One commit event, also when it commits the offset committed before
  /// (feed it from an offset-commit callback to tell STALL from STOP).
  void commit(std::int64_t offset, std::int64_t lag, time_point at) {
    observe(lag, at);
    push({offset, lag, at});
  }

  /// The status at `now` by the rules above; OK before the first commit.
  LagStatus status(time_point now) const {
    if (commits_.empty() || current_lag_ <= 0) return LagStatus::kOk;
    const Commit& first = commits_.front();
    const Commit& last = commits_.back();
    const bool caught_up_lately =
        caught_up_ && now - caught_up_at_ <= options_.stop_after;
    if (!caught_up_lately &&
        now - last.at > std::max<std::chrono::nanoseconds>(
                            last.at - first.at, options_.stop_after)) {
      return LagStatus::kStop;
    }
    for (const auto& c : commits_) {
      if (c.lag == 0) return LagStatus::kOk;
    }
    for (std::size_t i = 1; i < commits_.size(); ++i) {
      if (commits_[i].offset < commits_[i - 1].offset) {
        return LagStatus::kRewind;
      }
    }
    if (commits_.size() < options_.window) return LagStatus::kOk;
    bool moved = false;
    bool shrank = false;
    for (std::size_t i = 1; i < commits_.size(); ++i) {
      moved = moved || commits_[i].offset != commits_[i - 1].offset;
      shrank = shrank || commits_[i].lag < commits_[i - 1].lag;
    }
    if (!moved) return LagStatus::kStall;
    return shrank ? LagStatus::kOk : LagStatus::kWarn;
  }

 private:
  struct Commit {
    std::int64_t offset;
    std::int64_t lag;
    time_point at;
  };
  void observe(std::int64_t lag, time_point at) {
    current_lag_ = lag;
    if (lag == 0) {
      caught_up_ = true;
      caught_up_at_ = at;
    }
  }
  void push(const Commit& c) {
    commits_.push_back(c);
    if (commits_.size() > options_.window) commits_.pop_front();
  }

  LagEvaluatorOptions options_;
  std::deque<Commit> commits_;
  std::int64_t current_lag_ = -1;
  bool caught_up_ = false;  // some sample had lag 0, the last at caught_up_at_
  time_point caught_up_at_{};
};

}  // namespace kafka
VIGIL_NAMESPACE_END
