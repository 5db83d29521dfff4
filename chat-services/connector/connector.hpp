#pragma once
// A channel connector: reads its outbound topic, delivers to the platform
// through a circuit breaker and retries, reports DELIVERED / PENDING on
// `status-updates`, and commits an offset only once everything before it was
// delivered (store-and-forward with Kafka as the store).

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <vigil/circuit_breaker.hpp>
#include <vigil/log.hpp>
#include <vigil/registry.hpp>
#include <vigil/retry.hpp>

#include "delivery_scheduler.hpp"
#include "kafka_client.hpp"

namespace chat {

struct ConnectorOptions {
  std::string channel;  // whatsapp or instagram
  std::string brokers;
  std::string platform_url = "http://127.0.0.1:8085";
  std::string instance;  // for logs and client.id
  std::size_t max_in_flight = 64;
  std::size_t max_held = 10000;
  std::chrono::milliseconds call_timeout{5000};
  std::uint32_t max_attempts = 3;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  /// How long a message that could not be delivered waits before the next
  /// try (breaker open, or retries used up).
  std::chrono::milliseconds retry_later{1000};
  std::uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open_wait{10000};
  std::chrono::milliseconds breaker_max_open_wait{60000};
  std::chrono::milliseconds session_timeout{6000};
};

/// Thread-safety: run() on one thread; request_stop() and the accessors from
/// any thread.
class Connector : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  /// Throws std::invalid_argument for a bad channel or platform URL and
  /// std::runtime_error if Kafka cannot be set up.
  Connector(ConnectorOptions options, vigil::Registry& metrics,
            vigil::LogSink log);
  ~Connector() override;

  /// Consumes and delivers until request_stop(); then commits what was
  /// delivered and leaves the group.
  void run();
  void request_stop() { stopping_ = true; }

  /// Whether the broker answers (polled by the readiness check).
  bool check_broker(std::chrono::milliseconds timeout) {
    return publisher_.check_broker(timeout);
  }
  const vigil::CircuitBreaker& breaker() const { return breaker_; }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override;
  void event_cb(RdKafka::Event& event) override;

 private:
  class Rejected;
  /// Anything but a platform refusal: worth retrying, and a sign the
  /// platform is in trouble (the breaker counts it).
  static bool not_rejected(const std::exception_ptr& error);
  class RetryableStatus;

  void read(RdKafka::Message& message);
  void commit_delivered();
  void set_paused(bool paused);
  void work();
  void deliver(const DeliveryTicket& ticket, class PlatformClient& client);
  /// Publishes and waits for the broker's acknowledgement, retrying until it
  /// comes or a stop is requested (false).
  bool publish_confirmed(const std::string& topic, const std::string& key,
                         const std::string& payload);
  void report_pending(const std::vector<OutboundMessage>& messages);
  std::string topic() const { return options_.channel + "-outbound"; }

  ConnectorOptions options_;
  vigil::LogSink log_;
  std::string service_;
  std::atomic<bool> stopping_{false};
  bool paused_ = false;  // consumer thread only

  vigil::CircuitBreaker breaker_;
  vigil::Retry retry_;
  DeliveryScheduler scheduler_;
  KafkaPublisher publisher_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::vector<std::thread> workers_;

  vigil::Counter delivered_;
  vigil::Counter deferred_;
  vigil::Counter rejected_;
  vigil::Histogram api_duration_;
  vigil::Gauge pending_;
};

}  // namespace chat
