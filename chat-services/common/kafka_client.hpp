#pragma once
// librdkafka set-up shared by the chat services: configuration with clear
// errors, and a producer whose batches are confirmed by the broker before
// anyone acts on them.

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace chat {

/// Builds a librdkafka configuration; throws std::invalid_argument naming
/// the property librdkafka refused.
std::unique_ptr<RdKafka::Conf> kafka_conf(
    const std::map<std::string, std::string>& properties);

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

}  // namespace chat
