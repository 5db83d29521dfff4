#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace kafka {

/// Turns an offset lag into a time lag ("the oldest unconsumed message is
/// 42 s old"), the way kafka-lag-exporter does: it remembers when the
/// partition's log-end offset had which value, and interpolates the time
/// the log end passed the committed offset. A time lag means the same for
/// a busy and a quiet partition, which an offset lag does not.
///
/// The table keeps `capacity` points; a plateau (no new messages) keeps only
/// its first and last point, so a quiet partition does not flush history.
/// For offsets older than the table it extrapolates from the table's
/// average rate, and never reports less than the table's age.
///
/// Thread-safety: none; one owner (the lag probe keeps one per partition).
///
///     vigil::kafka::OffsetTimeTable table;
///     table.add(high_watermark, now);
///     double seconds = table.lag_seconds(committed, now).value_or(-1);
class OffsetTimeTable {
 public:
  /// A point in time on the steady clock.
  using time_point = std::chrono::steady_clock::time_point;

  /// A table of at most `capacity` points; a capacity below 2 is raised to
  /// 2, the least an interpolation needs.
  explicit OffsetTimeTable(std::size_t capacity = 60)
      : capacity_(capacity < 2 ? 2 : capacity) {}

  /// Records that the log-end offset was `latest` at `at` (times must not go
  /// backwards). A smaller offset than before means the partition was
  /// recreated or truncated: history is dropped.
  void add(std::int64_t latest, time_point at) {
    if (!points_.empty() && latest < points_.back().offset) points_.clear();
    const std::size_t n = points_.size();
    if (n >= 2 && points_[n - 1].offset == latest &&
        points_[n - 2].offset == latest) {
      points_.back().at = at;  // extend the plateau
      return;
    }
    points_.push_back({latest, at});
    if (points_.size() > capacity_) points_.pop_front();
  }

  /// Seconds since the message at `committed` (the next one to consume) was
  /// appended; 0 when nothing is waiting; nullopt before the first add().
  std::optional<double> lag_seconds(std::int64_t committed,
                                    time_point now) const {
    if (points_.empty()) return std::nullopt;
    if (committed >= points_.back().offset) return 0.0;
    // The message at `committed` arrived when the log end reached
    // committed + 1.
    const double target = static_cast<double>(committed) + 1;
    std::size_t i = 0;
    while (points_[i].offset < target) ++i;  // the back point qualifies
    double appended;
    if (i == 0) {
      const Point& first = points_.front();
      const Point& last = points_.back();
      appended = seconds(first.at);
      if (last.offset > first.offset && last.at > first.at) {
        const double rate = static_cast<double>(last.offset - first.offset) /
                            (seconds(last.at) - seconds(first.at));
        appended -= (static_cast<double>(first.offset) - target) / rate;
      }
    } else {
      const Point& a = points_[i - 1];
      const Point& b = points_[i];
      const double fraction = (target - static_cast<double>(a.offset)) /
                              static_cast<double>(b.offset - a.offset);
      appended = seconds(a.at) + fraction * (seconds(b.at) - seconds(a.at));
    }
    const double lag = seconds(now) - appended;
    return lag > 0 ? lag : 0.0;
  }

  /// The points currently held, at most the capacity.
  std::size_t size() const noexcept { return points_.size(); }

 private:
  struct Point {
    std::int64_t offset;
    time_point at;
  };
  static double seconds(time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  }

  std::size_t capacity_;
  std::deque<Point> points_;
};

}  // namespace kafka
VIGIL_NAMESPACE_END
