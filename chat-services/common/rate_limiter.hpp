#pragma once
// Token buckets by key (a username, a client address), for the limits that
// keep a stranger from guessing passwords or flooding the hashing threads.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace chat {

/// Each key gets a bucket of `burst` tokens that refills at `per_second`;
/// a request takes one token or is refused with the time until the next.
/// Memory is bounded: past `max_keys`, the buckets that still hold a token
/// are dropped (forgetting them grants little), and if every key is being
/// refused, the half refused longest ago.
///
/// Thread-safety: every member may be called from any thread.
///
///     RateLimiter logins({/*burst=*/10, /*per_second=*/10.0 / 60});
///     std::chrono::seconds wait;
///     if (!logins.take("alice", wait)) answer 429 with Retry-After: wait
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    double burst = 10;
    double per_second = 1;
    std::size_t max_keys = 100000;
  };

  explicit RateLimiter(Options options) : options_(options) {}

  /// Takes a token for `key`; false with `retry_after` (at least 1 s) when
  /// the bucket is empty.
  bool take(std::string_view key, std::chrono::seconds& retry_after,
            Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void prune(Clock::time_point now);

  const Options options_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace chat
