#include "watchdog.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using vigil::http::HealthStatus;
using vigil::http::Probe;

TEST(Watchdog, FailsOnlyAfterTheThresholdWithoutABeat) {
  vigil::ManualClock clock;
  chat::Watchdog watchdog("poll_loop", 10s, clock.source());
  EXPECT_EQ(watchdog.check().status, HealthStatus::kPass);
  clock.advance(10s);
  EXPECT_EQ(watchdog.check().status, HealthStatus::kPass);
  clock.advance(1ms);
  const auto stuck = watchdog.check();
  EXPECT_EQ(stuck.status, HealthStatus::kFail);
  EXPECT_NE(stuck.output.find("poll_loop"), std::string::npos);
  ASSERT_TRUE(stuck.observed_value);
  EXPECT_DOUBLE_EQ(*stuck.observed_value, 10.001);
  watchdog.beat();
  EXPECT_EQ(watchdog.check().status, HealthStatus::kPass);
}

// A loop that beats while it runs, then blocks as a deadlocked loop would:
// liveness goes red once the threshold passes without a beat, and green
// again when the loop resumes. Time moves only when the test moves it.
TEST(Watchdog, LivenessFailsWhileTheLoopIsStuck) {
  vigil::ManualClock clock;
  chat::Watchdog watchdog("poll_loop", 5s, clock.source());
  vigil::http::HealthRegistry health;
  chat::add_liveness_check(health, watchdog, 5ms);
  health.add_push_check("broker", Probe::kReadiness);

  std::mutex mutex;
  std::condition_variable changed;
  bool stuck = false;
  bool stop = false;
  int beats_while_free = 0;
  std::thread loop([&] {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stop) {
      if (stuck) {
        changed.wait(lock, [&] { return !stuck || stop; });
        continue;
      }
      watchdog.beat();
      ++beats_while_free;
      changed.notify_all();
      changed.wait_for(lock, 1ms);
    }
  });
  auto liveness = [&] { return health.report(Probe::kLiveness).status; };
  auto wait_for_liveness = [&](HealthStatus want) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (liveness() != want) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  };

  ASSERT_TRUE(wait_for_liveness(HealthStatus::kPass));
  {
    std::unique_lock<std::mutex> lock(mutex);
    stuck = true;  // the loop parks at its next iteration
  }
  clock.advance(6s);
  EXPECT_TRUE(wait_for_liveness(HealthStatus::kFail));
  // Readiness is a different question: it does not include the watchdog.
  EXPECT_EQ(health.report(Probe::kReadiness).status, HealthStatus::kPass);
  {
    std::unique_lock<std::mutex> lock(mutex);
    stuck = false;
    const int before = beats_while_free;
    changed.notify_all();
    changed.wait(lock, [&] { return beats_while_free > before; });
  }
  EXPECT_TRUE(wait_for_liveness(HealthStatus::kPass));
  {
    std::lock_guard<std::mutex> lock(mutex);
    stop = true;
  }
  changed.notify_all();
  loop.join();
}

}  // namespace
