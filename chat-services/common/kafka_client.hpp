#pragma once
// librdkafka set-up shared by the chat services: configuration with clear
// errors, and a producer whose batches are confirmed by the broker before
// anyone acts on them.

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "flags.hpp"
#include "watchdog.hpp"

namespace chat {

/// librdkafka properties an operator adds to every client a service builds
/// (SASL, TLS, timeouts of a real cluster): from `--kafka-config FILE`
/// (`key=value` lines, `#` comments, blank lines) and from `CHAT_KAFKA_*`
/// environment variables, lower-cased with `_` read as `.` and `__` as `_`
/// (`CHAT_KAFKA_SASL_MECHANISM=PLAIN` sets `sasl.mechanism`); a variable
/// wins over the file. Throws std::invalid_argument for an unreadable file,
/// a malformed line, or a property the services set themselves for their
/// delivery guarantees (see kProtectedKafkaProperties), naming it.
std::map<std::string, std::string> kafka_overrides(const std::string& file,
                                                   char** environment);

/// Properties operators may not override: the brokers (use --brokers), the
/// groups, and what the no-loss guarantees rest on (idempotent acks=all
/// producers, offsets stored only once a batch is durable).
inline constexpr const char* kProtectedKafkaProperties[] = {
    "bootstrap.servers",  "group.id",
    "enable.idempotence", "acks",
    "enable.auto.commit", "enable.auto.offset.store",
    "auto.offset.reset",  "partition.assignment.strategy"};

/// Installs the overrides kafka_conf() applies last, for the whole process.
/// Call once at start-up, before any client is built.
void set_kafka_overrides(std::map<std::string, std::string> overrides);

/// Declares `--kafka-config FILE` (environment KAFKA_CONFIG).
void add_kafka_config_flag(Flags& flags);
/// Reads --kafka-config and the CHAT_KAFKA_* variables and installs them
/// with set_kafka_overrides(); throws as kafka_overrides() does.
void apply_kafka_config(const Flags& flags);

/// Builds a librdkafka configuration from `properties` plus the process's
/// overrides; throws std::invalid_argument naming the property librdkafka
/// refused.
std::unique_ptr<RdKafka::Conf> kafka_conf(
    const std::map<std::string, std::string>& properties);

/// A consumer built from `properties` that reports rebalances and client
/// events to the given callbacks; throws std::runtime_error if librdkafka
/// refuses it.
std::unique_ptr<RdKafka::KafkaConsumer> kafka_consumer(
    const std::map<std::string, std::string>& properties,
    RdKafka::RebalanceCb* rebalances, RdKafka::EventCb* events);

/// An idempotent producer (acks=all) that can tell whether everything it
/// sent since begin_batch() reached the broker.
///
/// Thread-safety: one thread produces; delivery reports arrive on it too
/// (they are served by flush()).
class ConfirmedProducer : public RdKafka::DeliveryReportCb {
 public:
  /// `extra` adds or overrides librdkafka properties.
  explicit ConfirmedProducer(
      const std::string& brokers,
      const std::map<std::string, std::string>& extra = {});

  void begin_batch() { failures_ = 0; }
  /// Queues a message; returns false (and counts a failure) if librdkafka
  /// refused to queue it.
  bool produce(const std::string& topic, std::string_view key,
               std::string_view payload);
  /// Waits up to `timeout` for every queued message to be acknowledged;
  /// true only if all were, without error.
  bool confirm(std::chrono::milliseconds timeout);

  RdKafka::Producer& handle() { return *producer_; }

  void dr_cb(RdKafka::Message& message) override;

 private:
  std::atomic<int> failures_{0};
  std::unique_ptr<RdKafka::Producer> producer_;
};

/// Publishes events and reports each one's fate: the API answers 202 only
/// once the broker acknowledged the write.
class Publisher {
 public:
  using Done = std::function<void(bool acknowledged)>;
  virtual ~Publisher() = default;
  /// Calls `done` exactly once, from any thread: true once the broker
  /// acknowledged, false if it could not be written or was not acknowledged
  /// in time (it may then still be written later: false means "not
  /// confirmed", never "confirmed lost").
  virtual void publish(const std::string& topic, const std::string& key,
                       const std::string& payload, Done done) = 0;
  /// False while the broker is known to be unreachable (fail fast, and
  /// report not ready).
  virtual bool available() const = 0;
};

/// Publisher on an idempotent librdkafka producer (acks=all). A thread of
/// its own serves delivery reports (and beats `delivery_watchdog`, if
/// given, every turn). A write not acknowledged within `timeout` is
/// reported as failed after at most `timeout` + 50 ms, even when librdkafka
/// holds on to it longer: an idempotent producer keeps a write that was in
/// flight when the broker went away until the connection is back.
class KafkaPublisher final : public Publisher,
                             public RdKafka::DeliveryReportCb {
 public:
  KafkaPublisher(const std::string& brokers, std::chrono::milliseconds timeout,
                 const std::map<std::string, std::string>& extra = {},
                 Watchdog* delivery_watchdog = nullptr);
  /// Calls close().
  ~KafkaPublisher() override;

  /// Waits briefly for outstanding writes and fails the rest, so every
  /// caller hears back; then stops the delivery thread. Call it while the
  /// callbacks' targets still exist. Idempotent.
  void close();

  void publish(const std::string& topic, const std::string& key,
               const std::string& payload, Done done) override;
  bool available() const override { return available_; }

  /// Asks the broker for metadata (bounded by `timeout`) and records
  /// whether it answered; run it from a health check.
  bool check_broker(std::chrono::milliseconds timeout);

  void dr_cb(RdKafka::Message& message) override;

 private:
  /// One publish waiting for its delivery report or its deadline; whichever
  /// comes first calls `done`.
  struct Pending {
    Done done;
    std::chrono::steady_clock::time_point deadline;
    std::atomic<bool> answered{false};
    /// Only the first call gets through, and it alone touches `done`
    /// (released at once: it holds the HTTP exchange it answers).
    void answer(bool acknowledged) {
      if (answered.exchange(true)) return;
      Done once = std::move(done);
      once(acknowledged);
    }
  };
  /// Answers false to every pending publish past its deadline (all have the
  /// same timeout, so they expire in publish order).
  void expire_overdue();

  const std::chrono::milliseconds timeout_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<bool> available_{true};
  std::atomic<bool> stopping_{false};
  std::mutex pending_mutex_;
  std::deque<std::shared_ptr<Pending>> pending_;  // in publish order
  std::thread poller_;
  std::once_flag closed_;
};

}  // namespace chat
