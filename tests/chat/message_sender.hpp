#pragma once
// A steady client of the API for the stack's failure tests: posts messages
// at a fixed rate and records every answer, so a test can check that each
// message answered 202 is stored exactly once.

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"

namespace chat_test {

/// Every answer the sender got, and the ids of the accepted messages.
struct SendLog {
  std::vector<std::string> accepted;
  int unavailable = 0;                // 503
  int unavailable_without_retry = 0;  // 503 missing Retry-After
  int other = 0;                      // anything else, or no answer
  std::string first_other;
};

/// Posts messages at `rate` a second from a thread of its own until
/// stopped. Paced by the clock, not by the answers, so a slow stack does not
/// slow the arrivals (at most one request is outstanding: answers past one
/// period only delay that one send). Its getters may be called from any
/// thread.
///
///   chat_test::Sender sender(api_port, token, user_id, "conv", 100);
///   ...
///   const chat_test::SendLog sent = sender.stop();
class Sender {
 public:
  using Clock = std::chrono::steady_clock;

  Sender(int port, std::string token, std::string user, std::string tag,
         int rate)
      : port_(port),
        rate_(rate),
        token_(std::move(token)),
        user_(std::move(user)),
        tag_(std::move(tag)),
        thread_([this] { run(); }) {}
  ~Sender() { stop(); }

  SendLog stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  std::size_t accepted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_.accepted.size();
  }
  int unavailable() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_.unavailable;
  }
  /// When the last 202 arrived.
  Clock::time_point last_accepted_at() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_accepted_at_;
  }

 private:
  void run() {
    const auto period = std::chrono::microseconds(1000000 / rate_);
    auto next = Clock::now();
    for (int i = 0; !stopping_; ++i) {
      std::this_thread::sleep_until(next);
      next += period;
      const nlohmann::json body = {
          {"conversation_id", tag_ + "-" + std::to_string(i % 12)},
          {"sender_id", user_},
          {"content", "message " + std::to_string(i)}};
      auto r = http_request(port_, "POST", "/v1/messages", body.dump(),
                            {"Content-Type: application/json",
                             "Authorization: Bearer " + token_});
      std::lock_guard<std::mutex> lock(mutex_);
      if (r && r->status == 202) {
        log_.accepted.push_back(nlohmann::json::parse(r->body)["message_id"]);
        last_accepted_at_ = Clock::now();
      } else if (r && r->status == 503) {
        ++log_.unavailable;
        if (!r->header("Retry-After")) ++log_.unavailable_without_retry;
      } else {
        if (log_.other++ == 0) {
          const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch());
          log_.first_other =
              (r ? std::to_string(r->status) + " " + r->body : "no answer") +
              " at " + std::to_string(ms.count()) + " ms since the epoch";
        }
      }
      if (Clock::now() > next) next = Clock::now();  // no catch-up burst
    }
  }

  const int port_;
  const int rate_;  // messages per second
  const std::string token_, user_, tag_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  SendLog log_;
  Clock::time_point last_accepted_at_{};
  std::thread thread_;
};

}  // namespace chat_test
