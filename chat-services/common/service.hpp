#pragma once
// What every chat binary does around its work: block termination signals
// before any thread starts (so they all inherit the mask) and wait for one.

#include <csignal>
#include <initializer_list>

namespace chat {

/// Thread-safety: construct on the main thread before starting others.
class Signals {
 public:
  /// Blocks `signals` in this thread and every thread it starts later.
  explicit Signals(std::initializer_list<int> signals = {SIGINT, SIGTERM});
  /// Waits for one of the signals and returns it.
  int wait() const;

 private:
  sigset_t set_;
};

}  // namespace chat
