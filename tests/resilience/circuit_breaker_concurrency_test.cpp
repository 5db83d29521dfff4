// Many threads call through one breaker while it trips and recovers. Under
// ThreadSanitizer this is the data-race check of the lock-free closed path;
// everywhere it checks that no outcome is lost and that transitions form one
// consistent chain.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vigil/circuit_breaker.hpp"
#include "vigil/manual_clock.hpp"
#include "vigil/registry.hpp"

namespace {

using vigil::CircuitState;

class CircuitBreakerConcurrency
    : public ::testing::TestWithParam<vigil::SlidingWindowType> {};

TEST_P(CircuitBreakerConcurrency, CountsAreExactWhileItTripsAndRecovers) {
  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  options.window_type = GetParam();
  options.window_duration = std::chrono::seconds(2);
  options.window_size = 20;
  options.minimum_calls = 10;
  options.open_wait = std::chrono::seconds(1);
  options.open_wait_multiplier = 1;
  options.half_open_trial_calls = 2;
  vigil::CircuitBreaker breaker("dep", registry, options);

  std::vector<std::pair<CircuitState, CircuitState>> chain;
  breaker.add_listener([&](const vigil::CircuitTransition& t) {
    chain.emplace_back(t.from, t.to);  // listeners run under the breaker's lock
  });

  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  // Phases of 500 iterations of thread 0: the dependency is up, then down.
  std::atomic<bool> failing{false};
  struct Tally {
    double success = 0, failure = 0, rejected = 0;
  };
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Tally& mine = tallies[t];
      for (int i = 0; i < kIterations; ++i) {
        if (t == 0 && i % 500 == 0) failing.store((i / 500) % 2 == 1);
        if (i % 64 == 0) clock.advance(std::chrono::milliseconds(100));
        auto permit = breaker.try_acquire();
        if (!permit) {
          ++mine.rejected;
        } else if (failing.load()) {
          permit.failure();
          ++mine.failure;
        } else {
          permit.success();
          ++mine.success;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  Tally total;
  for (const auto& t : tallies) {
    total.success += t.success;
    total.failure += t.failure;
    total.rejected += t.rejected;
  }
  auto& calls = registry.counter("vigil_circuit_breaker_calls_total", "",
                                 {"name", "outcome"});
  EXPECT_EQ(calls.with({"dep", "success"}).value(), total.success);
  EXPECT_EQ(calls.with({"dep", "failure"}).value(), total.failure);
  EXPECT_EQ(calls.with({"dep", "rejected"}).value(), total.rejected);
  EXPECT_EQ(calls.with({"dep", "slow"}).value(), 0);
  EXPECT_EQ(total.success + total.failure + total.rejected,
            kThreads * kIterations);

  // One chain from CLOSED, each step a legal automatic transition, and the
  // transition counters agree with what the listener saw.
  std::map<std::pair<CircuitState, CircuitState>, double> seen;
  CircuitState at = CircuitState::kClosed;
  for (const auto& [from, to] : chain) {
    EXPECT_EQ(from, at);
    const bool legal =
        (from == CircuitState::kClosed && to == CircuitState::kOpen) ||
        (from == CircuitState::kOpen && to == CircuitState::kHalfOpen) ||
        (from == CircuitState::kHalfOpen && to != CircuitState::kHalfOpen);
    EXPECT_TRUE(legal) << vigil::to_string(from) << ">" << vigil::to_string(to);
    ++seen[{from, to}];
    at = to;
  }
  EXPECT_EQ(breaker.state(), at);
  auto& counted = registry.counter("vigil_circuit_breaker_transitions_total",
                                   "", {"name", "from", "to"});
  for (const auto& [edge, n] : seen) {
    EXPECT_EQ(counted
                  .with({"dep", vigil::to_string(edge.first),
                         vigil::to_string(edge.second)})
                  .value(),
              n);
  }
  // The scenario really exercised tripping and recovering.
  EXPECT_GT((seen[{CircuitState::kClosed, CircuitState::kOpen}]), 0);
  EXPECT_GT((seen[{CircuitState::kHalfOpen, CircuitState::kClosed}]), 0);
  EXPECT_GT(total.rejected, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Windows, CircuitBreakerConcurrency,
    ::testing::Values(vigil::SlidingWindowType::kCount,
                      vigil::SlidingWindowType::kTime),
    [](const ::testing::TestParamInfo<vigil::SlidingWindowType>& info) {
      return info.param == vigil::SlidingWindowType::kCount ? "Count" : "Time";
    });

}  // namespace
