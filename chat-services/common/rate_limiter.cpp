#include "rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace chat {

bool RateLimiter::take(std::string_view key, std::chrono::seconds& retry_after,
                       Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_keys) prune(now);
    it = buckets_.emplace(std::string(key), Bucket{options_.burst, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  b.tokens = std::min(options_.burst,
                      b.tokens + std::max(0.0, elapsed) * options_.per_second);
  b.updated = std::max(b.updated, now);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  const double wait = (1 - b.tokens) / options_.per_second;
  retry_after = std::chrono::seconds(
      std::max<long long>(1, static_cast<long long>(std::ceil(wait))));
  return false;
}

void RateLimiter::prune(Clock::time_point now) {
  // Keys that can still take a token lose little by being forgotten (a
  // fresh bucket grants them at most the rest of a burst); keys that are
  // being refused are the ones the limit is for, so they go last.
  auto tokens = [&](const Bucket& b) {
    const double elapsed =
        std::chrono::duration<double>(now - b.updated).count();
    return b.tokens + std::max(0.0, elapsed) * options_.per_second;
  };
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = tokens(it->second) >= 1 ? buckets_.erase(it) : std::next(it);
  }
  if (buckets_.size() < options_.max_keys) return;
  // Every key is being refused (a flood of distinct keys): forget the half
  // refused longest ago.
  std::vector<Clock::time_point> times;
  times.reserve(buckets_.size());
  for (const auto& [key, bucket] : buckets_) times.push_back(bucket.updated);
  auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), middle, times.end());
  const auto cutoff = *middle;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = it->second.updated <= cutoff ? buckets_.erase(it) : std::next(it);
  }
}

}  // namespace chat
