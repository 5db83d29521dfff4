#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace kafka {
namespace detail {

/// Runs a task now and then every `interval` on one thread of its own,
/// between start() and stop(). The lag probe's sampling thread.
///
/// Thread-safety: start() and stop() may race from any threads (not from
/// the task). A lifecycle mutex held across the whole of each makes them
/// take turns: a stop() joins the very thread it told to stop before any
/// start() can run, so no start() can clear the stop request of a thread
/// being joined (which hung stop() forever), and each thread has its own
/// request to wake on.
///
///     PeriodicThread thread(std::chrono::seconds(10), [&] { sample(); });
///     thread.start();
///     thread.stop();  // a task in progress finishes first
class PeriodicThread {
 public:
  PeriodicThread(std::chrono::milliseconds interval, std::function<void()> task)
      : interval_(interval), task_(std::move(task)) {}
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;
  ~PeriodicThread() { stop(); }

  /// Starts the thread unless it runs.
  void start() {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mutex_);
    if (thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      stopping_ = false;
    }
    thread_ = std::thread([this] { run(); });
  }

  /// Stops the thread and waits for it; does nothing when none runs.
  void stop() {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mutex_);
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(wake_mutex_);
    while (!stopping_) {
      lock.unlock();
      task_();
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return stopping_; });
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> task_;
  std::mutex
      lifecycle_mutex_;  // held through start() and stop(); guards thread_
  std::thread thread_;
  std::mutex wake_mutex_;  // guards stopping_ while a thread runs
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace detail
}  // namespace kafka
VIGIL_NAMESPACE_END
