// The circuit breaker's state machine, driven step by step with a manual
// clock: every transition, the split (async) form, forced states, stale
// permits, and the metrics it exports.
#include "vigil/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "vigil/manual_clock.hpp"
#include "vigil/registry.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using vigil::CircuitState;

double calls(vigil::Registry& registry, const std::string& name,
             std::string_view outcome) {
  return registry
      .counter("vigil_circuit_breaker_calls_total", "", {"name", "outcome"})
      .with({name, outcome})
      .value();
}

double state_gauge(vigil::Registry& registry, const std::string& name,
                   CircuitState state) {
  return registry.gauge("vigil_circuit_breaker_state", "", {"name", "state"})
      .with({name, vigil::to_string(state)})
      .value();
}

double transitions(vigil::Registry& registry, const std::string& name,
                   CircuitState from, CircuitState to) {
  return registry
      .counter("vigil_circuit_breaker_transitions_total", "",
               {"name", "from", "to"})
      .with({name, vigil::to_string(from), vigil::to_string(to)})
      .value();
}

// One step of a scenario.
struct Step {
  enum Kind {
    kSucceed,     // n admitted calls that succeed
    kFail,        // n admitted calls that fail
    kSlow,        // n admitted calls that succeed after `duration`
    kRejected,    // n calls rejected
    kHold,        // n admitted calls left in flight
    kFinishHeld,  // the oldest held call ends: success (n=1), failure (n=0)
    kIgnoreHeld,  // the oldest held call ends without an outcome
    kAdvance,     // the clock moves by `duration`
    kForceOpen,
    kDisable,
    kReset,
  };
  Kind kind;
  int n = 1;
  std::chrono::nanoseconds duration{0};
};

Step succeed(int n = 1) { return {Step::kSucceed, n}; }
Step fail(int n = 1) { return {Step::kFail, n}; }
Step slow(int n, std::chrono::nanoseconds d) { return {Step::kSlow, n, d}; }
Step rejected(int n = 1) { return {Step::kRejected, n}; }
Step hold(int n = 1) { return {Step::kHold, n}; }
Step held_succeeds() { return {Step::kFinishHeld, 1}; }
Step held_fails() { return {Step::kFinishHeld, 0}; }
Step held_ignored() { return {Step::kIgnoreHeld}; }
Step advance(std::chrono::nanoseconds d) { return {Step::kAdvance, 1, d}; }
Step force_open() { return {Step::kForceOpen}; }
Step disable() { return {Step::kDisable}; }
Step reset() { return {Step::kReset}; }

struct Scenario {
  const char* name;
  std::function<void(vigil::CircuitBreakerOptions&)> configure;
  std::vector<Step> steps;
  CircuitState final_state;
  // Every transition, as "from>to:reason", in order.
  std::vector<std::string> transitions;
};

// Only the consecutive-failure rule, so each scenario isolates one rule.
void consecutive_only(vigil::CircuitBreakerOptions& o) {
  o.failure_rate_threshold = 0;
}
void rate_only(vigil::CircuitBreakerOptions& o) {
  o.consecutive_failures = 0;
  o.window_size = 10;
  o.minimum_calls = 10;
}

const Scenario kScenarios[] = {
    {"StaysClosedBelowConsecutiveFailures",
     consecutive_only,
     {fail(4)},
     CircuitState::kClosed,
     {}},
    {"OpensAfterFiveConsecutiveFailures",
     consecutive_only,
     {fail(5), rejected(3)},
     CircuitState::kOpen,
     {"closed>open:consecutive_failures"}},
    {"SuccessBreaksTheRun",
     consecutive_only,
     {fail(4), succeed(), fail(4)},
     CircuitState::kClosed,
     {}},
    {"OpenRejectsUntilTheWaitElapses",
     consecutive_only,
     {fail(5), advance(seconds(10) - milliseconds(1)), rejected(),
      advance(milliseconds(1)), hold()},
     CircuitState::kHalfOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed"}},
    {"HalfOpenNeedsEveryTrial",
     consecutive_only,
     {fail(5), advance(seconds(10)), succeed(2)},
     CircuitState::kHalfOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed"}},
    {"HalfOpenClosesOnTheLastTrial",
     consecutive_only,
     {fail(5), advance(seconds(10)), succeed(3), fail(4)},
     CircuitState::kClosed,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed",
      "half_open>closed:trials_succeeded"}},
    {"HalfOpenAdmitsOnlyTheTrials",
     consecutive_only,
     {fail(5), advance(seconds(10)), hold(3), rejected(2)},
     CircuitState::kHalfOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed"}},
    {"IgnoredTrialGivesItsSlotBack",
     consecutive_only,
     {fail(5), advance(seconds(10)), hold(3), held_ignored(), hold(),
      rejected()},
     CircuitState::kHalfOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed"}},
    {"FailedTrialReopensWithADoubledWait",
     consecutive_only,
     {fail(5), advance(seconds(10)), hold(2), held_succeeds(), held_fails(),
      advance(seconds(19)), rejected(), advance(seconds(1)), succeed(3)},
     CircuitState::kClosed,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed",
      "half_open>open:trial_failed", "open>half_open:wait_elapsed",
      "half_open>closed:trials_succeeded"}},
    {"OpenWaitGrowthIsCapped",
     [](vigil::CircuitBreakerOptions& o) {
       consecutive_only(o);
       o.half_open_trial_calls = 1;
       o.max_open_wait = seconds(25);
     },
     {fail(5), advance(seconds(10)), fail(),  // waits 10s, then 20s
      advance(seconds(20)), fail(),           // then 25s, not 40s
      advance(seconds(24)), rejected(), advance(seconds(1)), succeed()},
     CircuitState::kClosed,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed",
      "half_open>open:trial_failed", "open>half_open:wait_elapsed",
      "half_open>open:trial_failed", "open>half_open:wait_elapsed",
      "half_open>closed:trials_succeeded"}},
    {"ClosingResetsTheWaitGrowth",
     [](vigil::CircuitBreakerOptions& o) {
       consecutive_only(o);
       o.half_open_trial_calls = 1;
     },
     {fail(5), advance(seconds(10)), fail(), advance(seconds(20)), succeed(),
      fail(5), advance(seconds(10)), hold()},
     CircuitState::kHalfOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed",
      "half_open>open:trial_failed", "open>half_open:wait_elapsed",
      "half_open>closed:trials_succeeded", "closed>open:consecutive_failures",
      "open>half_open:wait_elapsed"}},
    {"ConstantWaitWithMultiplierOne",
     [](vigil::CircuitBreakerOptions& o) {
       consecutive_only(o);
       o.half_open_trial_calls = 1;
       o.open_wait_multiplier = 1;
     },
     {fail(5), advance(seconds(10)), fail(), advance(seconds(10)), hold()},
     CircuitState::kHalfOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed",
      "half_open>open:trial_failed", "open>half_open:wait_elapsed"}},
    {"FailureRateTripsAtTheThreshold",
     rate_only,
     {succeed(), fail(), succeed(), fail(), succeed(), fail(), succeed(),
      fail(), succeed(), fail(), rejected()},
     CircuitState::kOpen,
     {"closed>open:failure_rate"}},
    {"FailureRateTripsOnTheSuccessThatReachesMinimumCalls",
     rate_only,
     // F5 S5: the tenth call, a success, makes the window 50 % failures.
     {fail(5), succeed(5), rejected()},
     CircuitState::kOpen,
     {"closed>open:failure_rate"}},
    {"SlowCallRateTripsOnTheSuccessThatReachesMinimumCalls",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.failure_rate_threshold = 0;
       o.slow_call_duration = seconds(2);
       o.slow_call_rate_threshold = 50;
       o.window_size = 4;
       o.minimum_calls = 4;
     },
     {slow(2, seconds(3)), succeed(2), rejected()},
     CircuitState::kOpen,
     {"closed>open:slow_call_rate"}},
    {"TimeWindowTripsOnASuccessOnceOldSuccessesExpire",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.window_type = vigil::SlidingWindowType::kTime;
       o.window_duration = seconds(10);
     },
     // S10, then F9 (9 of 19: 47 %); the successes leave the window and the
     // next success sees 9 of 10.
     {succeed(10), advance(seconds(5)), fail(9), advance(seconds(6)), succeed(),
      rejected()},
     CircuitState::kOpen,
     {"closed>open:failure_rate"}},
    {"TimeWindowCountsFailuresAfterABurstOfSuccesses",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.window_type = vigil::SlidingWindowType::kTime;
       o.window_duration = seconds(10);
     },
     // All in one bucket, more calls than 14-bit counters hold: 20000 of
     // 40000 failed.
     {succeed(20000), fail(20000), rejected()},
     CircuitState::kOpen,
     {"closed>open:failure_rate"}},
    {"TimeWindowRateStaysExactPastABurstOfSuccesses",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.window_type = vigil::SlidingWindowType::kTime;
       o.window_duration = seconds(10);
     },
     // 19999 of 39999: just under 50 %, so no call may be lost or invented.
     {succeed(20000), fail(19999)},
     CircuitState::kClosed,
     {}},
    {"FailureRateWaitsForMinimumCalls",
     rate_only,
     {fail(5), succeed(4)},
     CircuitState::kClosed,
     {}},
    {"FailureRateBelowThresholdStaysClosed",
     rate_only,
     {succeed(6), fail(4)},
     CircuitState::kClosed,
     {}},
    {"CountWindowForgetsOldCalls",
     rate_only,
     // 8 of 14 calls failed, but never more than 4 of the last 10.
     {fail(4), succeed(6), fail(4)},
     CircuitState::kClosed,
     {}},
    {"WindowOfSuccessesStillCountsEachFailure",
     rate_only,
     // Successes past a full window of successes are not recorded; the
     // window must still read S4 F4 S1 F1 at the end.
     {succeed(25), fail(4), succeed(), fail(), rejected()},
     CircuitState::kOpen,
     {"closed>open:failure_rate"}},
    {"SuccessesAreRecordedUntilFailuresLeave",
     rate_only,
     // The last 10 are F3 S6 F1: 40 %.
     {succeed(20), fail(4), succeed(6), fail()},
     CircuitState::kClosed,
     {}},
    {"TimeWindowForgetsOldCalls",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.window_type = vigil::SlidingWindowType::kTime;
       o.window_duration = seconds(10);
     },
     {fail(4), advance(seconds(11)), succeed(6), fail(4)},
     CircuitState::kClosed,
     {}},
    {"TimeWindowTripsWithinTheSpan",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.window_type = vigil::SlidingWindowType::kTime;
       o.window_duration = seconds(10);
     },
     {fail(4), advance(seconds(5)), succeed(5), fail()},
     CircuitState::kOpen,
     {"closed>open:failure_rate"}},
    {"SlowCallRateTrips",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.failure_rate_threshold = 0;
       o.slow_call_duration = seconds(2);
       o.slow_call_rate_threshold = 50;
       o.window_size = 4;
       o.minimum_calls = 4;
     },
     {succeed(2), slow(1, seconds(3)), slow(1, seconds(2)), rejected()},
     CircuitState::kOpen,
     {"closed>open:slow_call_rate"}},
    {"FastEnoughCallsAreNotSlow",
     [](vigil::CircuitBreakerOptions& o) {
       rate_only(o);
       o.slow_call_duration = seconds(2);
       o.slow_call_rate_threshold = 50;
       o.window_size = 4;
       o.minimum_calls = 4;
     },
     {slow(4, seconds(2) - milliseconds(1))},
     CircuitState::kClosed,
     {}},
    {"SlowTrialReopens",
     [](vigil::CircuitBreakerOptions& o) {
       consecutive_only(o);
       o.slow_call_duration = seconds(2);
     },
     {fail(5), advance(seconds(10)), slow(1, seconds(5))},
     CircuitState::kOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed",
      "half_open>open:trial_failed"}},
    {"ForcedOpenRejectsPastTheWait",
     consecutive_only,
     {force_open(), rejected(), advance(seconds(3600)), rejected(), reset(),
      succeed()},
     CircuitState::kClosed,
     {"closed>forced_open:forced_open", "forced_open>closed:reset"}},
    {"DisabledNeverTrips",
     consecutive_only,
     {disable(), fail(50), succeed()},
     CircuitState::kDisabled,
     {"closed>disabled:disabled"}},
    {"ResetClosesAnOpenBreaker",
     consecutive_only,
     {fail(5), reset(), fail(4)},
     CircuitState::kClosed,
     {"closed>open:consecutive_failures", "open>closed:reset"}},
    {"CallsInFlightWhenItOpensDoNotMoveIt",
     consecutive_only,
     // Three calls started while closed end in HALF_OPEN: they are no trials.
     {hold(3), fail(5), advance(seconds(10)), held_succeeds(), held_succeeds(),
      held_succeeds(), hold(3), rejected()},
     CircuitState::kHalfOpen,
     {"closed>open:consecutive_failures", "open>half_open:wait_elapsed"}},
};

// A failing scenario is reported by name rather than as raw bytes.
void PrintTo(const Scenario& scenario, std::ostream* os) {
  *os << scenario.name;
}

class Transitions : public ::testing::TestWithParam<Scenario> {};

TEST_P(Transitions, FollowTheScript) {
  const Scenario& scenario = GetParam();
  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  scenario.configure(options);
  vigil::CircuitBreaker breaker("dep", registry, options);
  std::vector<std::string> seen;
  breaker.add_listener([&](const vigil::CircuitTransition& t) {
    EXPECT_EQ(t.breaker, "dep");
    EXPECT_EQ(t.at, clock.now());
    seen.push_back(std::string(vigil::to_string(t.from)) + ">" +
                   vigil::to_string(t.to) + ":" + std::string(t.reason));
  });

  double expected_success = 0, expected_failure = 0, expected_slow = 0,
         expected_rejected = 0;
  std::deque<vigil::CircuitBreaker::Permit> held;
  for (std::size_t i = 0; i < scenario.steps.size(); ++i) {
    const Step& step = scenario.steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    const int repeat = step.kind == Step::kFinishHeld ? 1 : step.n;
    for (int k = 0; k < repeat; ++k) {
      switch (step.kind) {
        case Step::kSucceed:
        case Step::kFail:
        case Step::kSlow: {
          auto permit = breaker.try_acquire();
          ASSERT_TRUE(permit);
          if (step.kind == Step::kFail) {
            permit.failure();
            ++expected_failure;
          } else {
            clock.advance(step.duration);
            const bool is_slow = options.slow_call_duration.count() > 0 &&
                                 step.duration >= options.slow_call_duration;
            permit.success();
            ++(is_slow ? expected_slow : expected_success);
          }
          break;
        }
        case Step::kRejected:
          ASSERT_FALSE(breaker.try_acquire());
          ++expected_rejected;
          break;
        case Step::kHold:
          held.push_back(breaker.try_acquire());
          ASSERT_TRUE(held.back());
          break;
        case Step::kFinishHeld:
          ASSERT_FALSE(held.empty());
          if (step.n == 1) {
            held.front().success();
            ++expected_success;
          } else {
            held.front().failure();
            ++expected_failure;
          }
          held.pop_front();
          break;
        case Step::kIgnoreHeld:
          ASSERT_FALSE(held.empty());
          held.pop_front();  // destroyed without an outcome
          break;
        case Step::kAdvance:
          clock.advance(step.duration);
          break;
        case Step::kForceOpen:
          breaker.force_open();
          break;
        case Step::kDisable:
          breaker.disable();
          break;
        case Step::kReset:
          breaker.reset();
          break;
      }
    }
  }
  EXPECT_EQ(breaker.state(), scenario.final_state);
  EXPECT_EQ(seen, scenario.transitions);
  EXPECT_EQ(calls(registry, "dep", "success"), expected_success);
  EXPECT_EQ(calls(registry, "dep", "failure"), expected_failure);
  EXPECT_EQ(calls(registry, "dep", "slow"), expected_slow);
  EXPECT_EQ(calls(registry, "dep", "rejected"), expected_rejected);
  for (std::size_t s = 0; s < vigil::kCircuitStateCount; ++s) {
    const auto state = static_cast<CircuitState>(s);
    EXPECT_EQ(state_gauge(registry, "dep", state),
              state == scenario.final_state ? 1 : 0)
        << vigil::to_string(state);
  }
  held.clear();  // ignored, so the metrics checked above stay as they are
}

INSTANTIATE_TEST_SUITE_P(CircuitBreaker, Transitions,
                         ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                           return std::string(info.param.name);
                         });

TEST(CircuitBreaker, CallRecordsReturnsAndExceptions) {
  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  options.consecutive_failures = 2;
  options.is_failure = [](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::invalid_argument&) {
      return false;  // the caller's mistake says nothing about the remote
    } catch (...) {
      return true;
    }
  };
  vigil::CircuitBreaker breaker("dep", registry, options);

  EXPECT_EQ(breaker.call([] { return 42; }), 42);
  int calls_made = 0;
  breaker.call([&] { ++calls_made; });
  EXPECT_EQ(calls_made, 1);
  EXPECT_THROW(breaker.call([]() -> int { throw std::invalid_argument("x"); }),
               std::invalid_argument);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  // A returned status can be a failure too.
  EXPECT_EQ(breaker.call([] { return 503; }, [](int s) { return s >= 500; }),
            503);
  EXPECT_THROW(breaker.call([] { throw std::runtime_error("down"); }),
               std::runtime_error);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  try {
    breaker.call([&] { ++calls_made; });
    FAIL() << "an open breaker must reject";
  } catch (const vigil::CircuitOpenError& e) {
    EXPECT_EQ(e.state(), CircuitState::kOpen);
  }
  EXPECT_EQ(calls_made, 1);
  EXPECT_EQ(calls(registry, "dep", "success"), 3);
  EXPECT_EQ(calls(registry, "dep", "failure"), 2);
  EXPECT_EQ(calls(registry, "dep", "rejected"), 1);
}

TEST(CircuitBreaker, CallTimesSlowCalls) {
  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  options.slow_call_duration = milliseconds(500);
  vigil::CircuitBreaker breaker("dep", registry, options);
  breaker.call([&] { clock.advance(milliseconds(499)); });
  breaker.call([&] { clock.advance(milliseconds(500)); });
  EXPECT_EQ(calls(registry, "dep", "success"), 1);
  EXPECT_EQ(calls(registry, "dep", "slow"), 1);
}

TEST(CircuitBreaker, AsyncPermitsReportLater) {
  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  vigil::CircuitBreaker breaker("dep", registry, options);
  // Outcomes arrive out of order from callbacks that own the permits.
  std::vector<std::function<void(bool)>> callbacks;
  for (int i = 0; i < 5; ++i) {
    auto permit = breaker.try_acquire();
    ASSERT_TRUE(permit);
    callbacks.push_back([p = std::make_shared<vigil::CircuitBreaker::Permit>(
                             std::move(permit))](bool ok) {
      ok ? p->success() : p->failure();
    });
  }
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  for (int i = 4; i >= 0; --i) callbacks[i](false);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  // Reporting twice, or on a rejected permit, does nothing.
  callbacks[0](true);
  auto permit = breaker.try_acquire();
  EXPECT_FALSE(permit);
  permit.failure();
  EXPECT_EQ(calls(registry, "dep", "failure"), 5);
  EXPECT_EQ(calls(registry, "dep", "success"), 0);
}

TEST(CircuitBreaker, HealthWarnsWhileOpenAndNeverFails) {
  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  options.consecutive_failures = 1;
  vigil::CircuitBreaker breaker("dep", registry, options);
  EXPECT_EQ(breaker.health(), vigil::HealthVerdict::kPass);
  breaker.try_acquire().failure();
  EXPECT_EQ(breaker.health(), vigil::HealthVerdict::kWarn);
  EXPECT_STREQ(vigil::to_string(breaker.health()), "warn");
  breaker.force_open();
  EXPECT_EQ(breaker.health(), vigil::HealthVerdict::kWarn);
  breaker.disable();
  EXPECT_EQ(breaker.health(), vigil::HealthVerdict::kPass);
}

TEST(CircuitBreaker, ExportsStateAndTransitionMetrics) {
  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::CircuitBreakerOptions options;
  options.clock = clock.source();
  vigil::CircuitBreaker breaker("crm", registry, options);
  for (int i = 0; i < 5; ++i) breaker.try_acquire().failure();
  const std::string body = registry.scrape();
  EXPECT_NE(
      body.find("vigil_circuit_breaker_state{name=\"crm\",state=\"open\"} 1"),
      std::string::npos)
      << body;
  EXPECT_NE(
      body.find("vigil_circuit_breaker_state{name=\"crm\",state=\"closed\"} 0"),
      std::string::npos);
  EXPECT_NE(body.find("vigil_circuit_breaker_calls_total{name=\"crm\","
                      "outcome=\"failure\"} 5"),
            std::string::npos);
  EXPECT_NE(body.find("vigil_circuit_breaker_transitions_total{name=\"crm\","
                      "from=\"closed\",to=\"open\"} 1"),
            std::string::npos);
  EXPECT_EQ(transitions(registry, "crm", CircuitState::kOpen,
                        CircuitState::kHalfOpen),
            0);
}

TEST(CircuitBreaker, RejectsInconsistentOptions) {
  vigil::Registry registry;
  auto make = [&](std::function<void(vigil::CircuitBreakerOptions&)> change) {
    vigil::CircuitBreakerOptions options;
    change(options);
    vigil::CircuitBreaker breaker("dep", registry, options);
  };
  EXPECT_THROW(make([](auto& o) { o.failure_rate_threshold = 101; }),
               std::invalid_argument);
  EXPECT_THROW(make([](auto& o) { o.window_size = 0; }), std::invalid_argument);
  EXPECT_THROW(make([](auto& o) { o.half_open_trial_calls = 0; }),
               std::invalid_argument);
  EXPECT_THROW(make([](auto& o) { o.open_wait_multiplier = 0.5; }),
               std::invalid_argument);
  EXPECT_THROW(make([](auto& o) { o.max_open_wait = milliseconds(1); }),
               std::invalid_argument);
  EXPECT_NO_THROW(make([](auto&) {}));
}

}  // namespace
