// The lag probe's sampling thread without librdkafka, so that ThreadSanitizer
// (under which librdkafka's own threads crash) checks the lifecycle too.
#include "vigil/kafka/detail/periodic_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "start_stop_race.hpp"

namespace {

using vigil::kafka::detail::PeriodicThread;

TEST(PeriodicThread, RunsTheTaskUntilStopped) {
  std::mutex mutex;
  std::condition_variable ran;
  int runs = 0;
  PeriodicThread thread(std::chrono::milliseconds(1), [&] {
    std::lock_guard<std::mutex> lock(mutex);
    ++runs;
    ran.notify_all();
  });
  thread.start();
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(ran.wait_for(lock, std::chrono::seconds(30),
                             [&] { return runs >= 3; }));
  }
  thread.stop();
  int after_stop = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    after_stop = runs;
  }
  thread.stop();  // stopping a stopped thread is a no-op
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(runs, after_stop);  // joined: nothing runs after stop()
}

TEST(PeriodicThread, StartAndStopRaceWithoutHanging) {
  std::atomic<int> runs{0};
  PeriodicThread thread(std::chrono::milliseconds(1), [&] { ++runs; });
  vigil_test::race_start_stop(thread, 2000, std::chrono::seconds(60));
  EXPECT_GT(runs.load(), 0);
}

}  // namespace
