// Races start() against stop() of anything with that pair, bounded by a
// deadline: a lifecycle that can hang stop() fails the test (and ends the
// process, since the wedged threads cannot be joined) instead of wedging
// ctest until its timeout.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>

namespace vigil_test {

template <class Lifecycle>
void race_start_stop(Lifecycle& subject, int iterations,
                     std::chrono::seconds limit) {
  auto finished = std::make_shared<std::promise<void>>();
  std::future<void> done = finished->get_future();
  std::thread racer([&subject, iterations, finished] {
    // The starter keeps starting for as long as the stopper stops, and each
    // stop() waits for a start() since the last one, so nearly every stop()
    // has a running thread to stop and a start() racing it.
    std::atomic<bool> stopped_enough{false};
    std::atomic<long> starts{0};
    std::thread starter([&] {
      while (!stopped_enough.load()) {
        subject.start();
        starts.fetch_add(1);
      }
    });
    std::thread stopper([&] {
      long seen = 0;
      for (int i = 0; i < iterations; ++i) {
        while (starts.load() == seen) std::this_thread::yield();
        seen = starts.load();
        subject.stop();
      }
      stopped_enough = true;
    });
    starter.join();
    stopper.join();
    subject.stop();
    finished->set_value();
  });
  if (done.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << iterations << " stop()s racing start() did not return "
                  << "within " << limit.count() << " s: stop() hangs";
    std::fflush(stdout);
    std::_Exit(1);
  }
  racer.join();
}

}  // namespace vigil_test
