// Retry with an injected clock, sleep and random source: every wait and every
// give-up is exact, and nothing sleeps.
#include "vigil/retry.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "vigil/circuit_breaker.hpp"
#include "vigil/manual_clock.hpp"
#include "vigil/registry.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct Harness {
  vigil::ManualClock clock;
  vigil::Registry registry;
  std::vector<nanoseconds> sleeps;
  std::vector<double> draws{0.5, 0.25, 1.0, 0.75};
  std::size_t next_draw = 0;

  vigil::RetryOptions options() {
    vigil::RetryOptions o;
    o.max_attempts = 4;
    o.initial_backoff = milliseconds(100);
    o.backoff_multiplier = 2;
    o.max_backoff = milliseconds(300);
    o.clock = clock.source();
    o.sleep = [this](nanoseconds d) {
      sleeps.push_back(d);
      clock.advance(d);
    };
    o.random = [this] { return draws[next_draw++ % draws.size()]; };
    return o;
  }
  double attempts(const std::string& op) {
    return registry.counter("vigil_retry_attempts_total", "", {"operation"})
        .with({op})
        .value();
  }
  double give_ups(const std::string& op, std::string_view reason) {
    return registry
        .counter("vigil_retry_give_ups_total", "", {"operation", "reason"})
        .with({op, reason})
        .value();
  }
};

TEST(Retry, SucceedsAfterTransientFailuresWithJitteredBackoff) {
  Harness h;
  vigil::Retry retry("op", h.registry, h.options());
  int calls = 0;
  const int result = retry.run([&] {
    if (++calls < 4) throw std::runtime_error("timeout");
    return 7;
  });
  EXPECT_EQ(result, 7);
  EXPECT_EQ(calls, 4);
  // Full jitter: draw * min(cap, 100ms * 2^(n-1)) -> 0.5*100, 0.25*200, 1*300.
  EXPECT_EQ(h.sleeps,
            (std::vector<nanoseconds>{milliseconds(50), milliseconds(50),
                                      milliseconds(300)}));
  EXPECT_EQ(h.attempts("op"), 4);
  EXPECT_EQ(h.give_ups("op", "max_attempts"), 0);
}

TEST(Retry, GivesUpAfterMaxAttemptsWithTheLastError) {
  Harness h;
  vigil::Retry retry("op", h.registry, h.options());
  int calls = 0;
  try {
    retry.run([&] {
      throw std::runtime_error("attempt " + std::to_string(++calls));
    });
    FAIL() << "must rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "attempt 4");
  }
  EXPECT_EQ(h.sleeps.size(), 3u);
  EXPECT_EQ(h.attempts("op"), 4);
  EXPECT_EQ(h.give_ups("op", "max_attempts"), 1);
}

TEST(Retry, StopsAtANonRetryableError) {
  Harness h;
  auto options = h.options();
  options.retryable = [](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::invalid_argument&) {
      return false;
    } catch (...) {
      return true;
    }
  };
  vigil::Retry retry("op", h.registry, options);
  int calls = 0;
  EXPECT_THROW(retry.run([&] {
    if (++calls == 1) throw std::runtime_error("timeout");
    throw std::invalid_argument("bad request");
  }),
               std::invalid_argument);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(h.give_ups("op", "not_retryable"), 1);
}

TEST(Retry, GivesUpRatherThanWaitPastMaxElapsed) {
  Harness h;
  auto options = h.options();
  options.max_attempts = 100;
  options.max_elapsed = milliseconds(200);
  vigil::Retry retry("op", h.registry, options);
  int calls = 0;
  EXPECT_THROW(retry.run([&] {
    ++calls;
    h.clock.advance(milliseconds(20));  // each attempt takes 20ms
    throw std::runtime_error("timeout");
  }),
               std::runtime_error);
  // 20 + 50 + 20 + 50 + 20 = 160ms; a third wait (300ms) would end at 460.
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(h.sleeps.size(), 2u);
  EXPECT_EQ(h.give_ups("op", "max_elapsed"), 1);
}

TEST(Retry, BackoffBoundGrowsAndIsCapped) {
  Harness h;
  auto options = h.options();
  options.random = [] { return 0.999; };
  options.max_backoff = std::chrono::seconds(1);
  vigil::Retry retry("op", h.registry, options);
  EXPECT_EQ(retry.backoff(1), nanoseconds(99900000));
  EXPECT_EQ(retry.backoff(3), nanoseconds(399600000));
  EXPECT_EQ(retry.backoff(40), nanoseconds(999000000));
}

TEST(Retry, DoesNotRetryWhileTheBreakerIsOpen) {
  Harness h;
  vigil::CircuitBreakerOptions breaker_options;
  breaker_options.clock = h.clock.source();
  breaker_options.consecutive_failures = 2;
  vigil::CircuitBreaker breaker("dep", h.registry, breaker_options);
  vigil::Retry retry("op", h.registry, h.options());
  int calls = 0;
  EXPECT_THROW(retry.run(breaker,
                         [&] {
                           ++calls;
                           throw std::runtime_error("down");
                         }),
               std::runtime_error);
  // The second failure opened the breaker: no third attempt, no more sleep.
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(h.sleeps.size(), 1u);
  EXPECT_EQ(h.give_ups("op", "circuit_open"), 1);

  // Already open: the caller learns at once, and the operation is not called.
  EXPECT_THROW(retry.run(breaker, [&] { ++calls; }), vigil::CircuitOpenError);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(h.give_ups("op", "circuit_open"), 2);
  EXPECT_EQ(h.attempts("op"), 3);
}

TEST(Retry, ThroughAClosedBreakerRetriesAndRecords) {
  Harness h;
  vigil::CircuitBreakerOptions breaker_options;
  breaker_options.clock = h.clock.source();
  vigil::CircuitBreaker breaker("dep", h.registry, breaker_options);
  vigil::Retry retry("op", h.registry, h.options());
  int calls = 0;
  EXPECT_EQ(retry.run(breaker,
                      [&] {
                        if (++calls < 3) throw std::runtime_error("blip");
                        return std::string("ok");
                      }),
            "ok");
  auto& outcomes = h.registry.counter("vigil_circuit_breaker_calls_total", "",
                                      {"name", "outcome"});
  EXPECT_EQ(outcomes.with({"dep", "failure"}).value(), 2);
  EXPECT_EQ(outcomes.with({"dep", "success"}).value(), 1);
}

TEST(Retry, RejectsInconsistentOptions) {
  vigil::Registry registry;
  vigil::RetryOptions options;
  options.max_attempts = 0;
  EXPECT_THROW(vigil::Retry("op", registry, options), std::invalid_argument);
  options.max_attempts = 2;
  options.max_backoff = milliseconds(1);
  EXPECT_THROW(vigil::Retry("op", registry, options), std::invalid_argument);
}

}  // namespace
