#include "rate_limiter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace std::chrono_literals;
using Clock = chat::RateLimiter::Clock;

TEST(RateLimiter, ABurstThenOneTokenPerInterval) {
  chat::RateLimiter limiter({3, 0.5, 100});
  const auto t0 = Clock::now();
  std::chrono::seconds wait{0};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.take("alice", wait, t0));
  EXPECT_FALSE(limiter.take("alice", wait, t0));
  EXPECT_EQ(wait, 2s);  // one token every 2 s
  // Other keys have buckets of their own.
  EXPECT_TRUE(limiter.take("bob", wait, t0));
  EXPECT_FALSE(limiter.take("alice", wait, t0 + 1s));
  EXPECT_EQ(wait, 1s);
  EXPECT_TRUE(limiter.take("alice", wait, t0 + 2s));
  EXPECT_FALSE(limiter.take("alice", wait, t0 + 2s));
  // A long pause refills no more than the burst.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.take("alice", wait, t0 + 3600s));
  }
  EXPECT_FALSE(limiter.take("alice", wait, t0 + 3600s));
}

TEST(RateLimiter, AFloodOfKeysStaysBoundedAndKeepsLimitingBusyOnes) {
  chat::RateLimiter limiter({2, 0.01, 100});
  const auto t0 = Clock::now();
  std::chrono::seconds wait{0};
  ASSERT_TRUE(limiter.take("victim", wait, t0));
  ASSERT_TRUE(limiter.take("victim", wait, t0));
  // Idle keys that have refilled are dropped first; the empty bucket stays.
  for (int i = 0; i < 99; ++i) {
    limiter.take("old-" + std::to_string(i), wait, t0 - 1000s);
  }
  for (int i = 0; i < 1000; ++i) {
    limiter.take("new-" + std::to_string(i), wait, t0 + 1s);
  }
  EXPECT_FALSE(limiter.take("victim", wait, t0 + 1s));
}

}  // namespace
