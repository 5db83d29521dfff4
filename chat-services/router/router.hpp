#pragma once
// The router worker: consumes `messages` in batches (and `status-updates`,
// through a consumer and group of its own), stores them
// idempotently, forwards platform messages to the connectors' topics,
// applies the connectors' `status-updates` to the store, and marks offsets
// for commit only once all of it is durable.

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <vigil/http/health.hpp>
#include <vigil/log.hpp>
#include <vigil/registry.hpp>

#include "events.hpp"
#include "kafka_client.hpp"
#include "store.hpp"
#include "watchdog.hpp"

namespace chat {

struct RouterOptions {
  std::string brokers;
  std::string group = "router-worker-group";
  std::string instance;  // for logs and client.id
  // One fsync and one offset commit per batch: at 15,000+ msg/s batches of
  // 500 let the lag (and the end-to-end latency) grow; 2000 keep up.
  std::size_t max_batch = 2000;
  std::chrono::milliseconds max_batch_wait{20};
  /// Short sessions so a killed router's partitions move on quickly (6 s
  /// is a real broker's default minimum); heartbeats every third of it.
  std::chrono::milliseconds session_timeout{6000};
  /// Liveness fails when the poll loop has not turned for this long. A
  /// healthy loop turns at least every 100 ms; one flush attempt may block
  /// for the store's busy timeout plus the forward confirmation (10 s each).
  /// Retrying a batch the store cannot take (StoreUnavailable) is not
  /// progress: a router stuck on it that long goes red and is restarted.
  std::chrono::milliseconds liveness_threshold{60000};
  /// Pause between two attempts at a batch that could not be stored or
  /// forwarded.
  std::chrono::milliseconds retry_backoff{500};
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

  /// The consumers, one per topic and group (`group` on `messages`,
  /// `group`-status on `status-updates`), for lag probes (valid once
  /// constructed).
  RdKafka::KafkaConsumer* messages_consumer() {
    return messages_consumer_.get();
  }
  RdKafka::KafkaConsumer* status_consumer() { return status_consumer_.get(); }
  /// Readiness: both consumers joined their groups, the last batch was stored
  /// and forwarded, and the broker answers a metadata request within
  /// `timeout`. Run it from a health check (it blocks up to `timeout`).
  vigil::http::CheckResult check_ready(std::chrono::milliseconds timeout);
  /// Beaten by the poll loop (and by retries while the broker is away, which
  /// a restart cannot cure; not while the store is); feeds the liveness
  /// check.
  const Watchdog& watchdog() const { return watchdog_; }

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
  struct DeadLetter {
    const Pending* event;
    std::string reason;
    bool store_refused;  // else malformed
  };
  enum class FlushResult { kDone, kStoreUnavailable, kForwardFailed };

  std::unique_ptr<RdKafka::KafkaConsumer> consumer_for(
      const std::string& group, const std::string& client_id);
  /// Partitions this router owns now, over both consumers.
  std::size_t owned_partitions();
  void add(RdKafka::Message& message);
  /// Stores, forwards and commits the current batch, retrying until it is
  /// done or a stop is requested (then the batch is left uncommitted and
  /// will be redelivered: the store is idempotent).
  void flush();
  FlushResult try_flush();
  /// Stores `records`; when the store refuses the batch (anything but
  /// StoreUnavailable), splits it and stores the parts it accepts, in
  /// order. `refused[i]` gets the store's reason for each record it refuses
  /// on its own. Returns how many were new; StoreUnavailable propagates.
  std::size_t store_messages(const std::vector<MessageRecord>& records,
                             std::vector<std::optional<std::string>>& refused);
  /// Stores [begin, end) of `records`, which the store refused whole with
  /// `why`, by halves (see store_messages).
  std::size_t bisect(const std::vector<MessageRecord>& records,
                     std::size_t begin, std::size_t end, std::string why,
                     std::vector<std::optional<std::string>>& refused);
  /// Moves messages through the lifecycle; replays and late events are
  /// no-ops (check_transition), so a redelivered batch is harmless. A status
  /// the store refuses goes to `dead`; StoreUnavailable propagates.
  void apply(const std::vector<StatusEvent>& statuses,
             const std::vector<const Pending*>& sources,
             std::vector<DeadLetter>& dead);

  RouterOptions options_;
  Store& store_;
  vigil::LogSink log_;
  std::atomic<bool> stopping_{false};
  /// Bit 1: the messages consumer joined its group; bit 2: the status one.
  std::atomic<unsigned> joined_{0};
  std::atomic<bool> last_flush_ok_{true};
  Watchdog watchdog_;
  std::unique_ptr<RdKafka::KafkaConsumer> messages_consumer_;
  std::unique_ptr<RdKafka::KafkaConsumer> status_consumer_;
  ConfirmedProducer producer_;
  std::vector<Pending> batch_;

  vigil::CounterFamily& consumed_;
  vigil::Counter stored_;
  vigil::Counter duplicates_;
  vigil::Counter dead_lettered_;
  vigil::Counter dead_malformed_;
  vigil::Counter dead_store_refused_;
  vigil::Counter store_unavailable_;
  vigil::Counter store_refused_;
  vigil::Histogram processing_;
  vigil::Histogram end_to_end_;
  vigil::Histogram batch_size_;
  vigil::Counter rebalances_;
  vigil::CounterFamily& status_updates_;
  vigil::Gauge assigned_partitions_;
};

}  // namespace chat
