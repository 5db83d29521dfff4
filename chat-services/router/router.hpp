#pragma once
// The router worker: consumes `messages` in batches, stores them
// idempotently, forwards platform messages to the connectors' topics,
// applies the connectors' `status-updates` to the store, and commits offsets
// only once all of it is durable.

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <vigil/log.hpp>
#include <vigil/registry.hpp>

#include "events.hpp"
#include "kafka_client.hpp"
#include "store.hpp"

namespace chat {

struct RouterOptions {
  std::string brokers;
  std::string group = "router-worker-group";
  std::string instance;  // for logs and client.id
  std::size_t max_batch = 500;
  std::chrono::milliseconds max_batch_wait{20};
  /// Short sessions so a killed router's partitions move on quickly.
  std::chrono::milliseconds session_timeout{6000};
};

/// Thread-safety: run() on one thread; request_stop() from any (e.g. a
/// signal-handling thread).
class Router : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  Router(RouterOptions options, Store& store, vigil::Registry& metrics,
         vigil::LogSink log);
  ~Router() override;

  /// Consumes until request_stop(); then finishes the batch, commits and
  /// leaves the group. Throws std::runtime_error if Kafka cannot be set up.
  void run();
  void request_stop() { stopping_ = true; }

  /// The consumer, for the lag probe (valid once constructed).
  RdKafka::KafkaConsumer* consumer() { return consumer_.get(); }
  /// True once the consumer joined the group and the broker is reachable.
  bool ready() const { return ready_; }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override;
  void event_cb(RdKafka::Event& event) override;

 private:
  struct Pending {
    std::string topic;
    int partition;
    std::int64_t offset;
    std::string payload;
  };

  void add(RdKafka::Message& message);
  /// Stores, forwards and commits the current batch, retrying until it is
  /// done or a stop is requested (then the batch is left uncommitted and
  /// will be redelivered: the store is idempotent).
  void flush();
  bool try_flush(std::vector<MessageRecord>& records);
  /// Moves messages through the lifecycle; replays and late events are
  /// no-ops (check_transition), so a redelivered batch is harmless.
  void apply(const std::vector<StatusEvent>& statuses);

  RouterOptions options_;
  Store& store_;
  vigil::LogSink log_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  ConfirmedProducer producer_;
  std::vector<Pending> batch_;

  vigil::CounterFamily& consumed_;
  vigil::Counter stored_;
  vigil::Counter duplicates_;
  vigil::Counter dead_lettered_;
  vigil::Counter dead_letter_total_;
  vigil::Histogram processing_;
  vigil::Histogram end_to_end_;
  vigil::Histogram batch_size_;
  vigil::Counter rebalances_;
  vigil::CounterFamily& status_updates_;
};

}  // namespace chat
