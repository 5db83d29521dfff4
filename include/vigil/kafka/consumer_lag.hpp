#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/counter.hpp"
#include "vigil/family.hpp"
#include "vigil/gauge.hpp"
#include "vigil/health_verdict.hpp"
#include "vigil/kafka/detail/periodic_thread.hpp"
#include "vigil/kafka/lag_evaluator.hpp"
#include "vigil/kafka/time_lag.hpp"
#include "vigil/manual_clock.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace kafka {

/// Settings of a ConsumerLagProbe.
struct ConsumerLagOptions {
  /// Time between samples when run by start().
  std::chrono::milliseconds interval = std::chrono::seconds(10);
  /// Bound on each broker query of a sample.
  std::chrono::milliseconds query_timeout = std::chrono::seconds(5);
  /// The `group` label; empty reads group.id from the consumer.
  std::string group;
  /// Points of the time-lag table kept per partition.
  std::size_t time_lag_points = 60;
  /// How each partition's status is judged (see LagEvaluator).
  LagEvaluatorOptions evaluator;
  /// Empty: std::chrono::steady_clock.
  SteadyNow clock;
};

/// One partition as the last sample saw it.
struct PartitionLag {
  /// The topic's name.
  std::string topic;
  /// The partition's number within the topic.
  std::int32_t partition = 0;
  /// High watermark: the offset the next produced message will get.
  std::int64_t latest_offset = -1;
  /// The group's committed offset; -1 when nothing was committed.
  std::int64_t committed_offset = -1;
  /// This consumer's fetch position; -1 when it has not fetched yet.
  std::int64_t position = -1;
  /// latest_offset - committed_offset, at least 0; -1 when nothing was
  /// committed (the lag is then undefined, not zero: where the group will
  /// start depends on auto.offset.reset).
  std::int64_t lag = -1;
  /// Age of the oldest unconsumed message, estimated; -1 when unknown.
  double lag_seconds = -1;
  /// The LagEvaluator's judgement over the recent commits.
  LagStatus status = LagStatus::kOk;
  /// Seconds since the values above were measured: 0 when the last sample
  /// measured them, more while broker queries for the partition fail (a
  /// leader election) and the last known values stand; +inf when no sample
  /// has measured the partition yet (the offsets are then -1).
  double stale_seconds = 0;
};

/// Exports a librdkafka consumer's lag per assigned partition, in the metric
/// names users already chart from kafka_exporter and kafka-lag-exporter:
///
///     kafka_consumergroup_lag{group,topic,partition}
///     kafka_consumergroup_lag_seconds{group,topic,partition}     time lag
///     kafka_consumergroup_current_offset{group,topic,partition}  committed
///     kafka_consumergroup_position{group,topic,partition}        fetched
///     kafka_partition_latest_offset{topic,partition}    high watermark
///     kafka_consumergroup_lag_sum{group,topic}
///     kafka_consumergroup_lag_stale_seconds{group,topic,partition}
///         age of the partition's values; +Inf when never measured
///     kafka_consumergroup_partition_status{group,topic,partition}
///         0 ok, 1 warn, 2 stall, 3 stop, 4 rewind
///     kafka_consumergroup_status{group,status}
///         1 for the worst partition's status, 0 for the others
///
/// A partition whose offsets a sample could not get (no leader during an
/// election, a timeout) keeps its last known values, in its own series and
/// in the lag sum, and its stale_seconds grows; the sample counts a
/// failure. A partition never measured has no lag series and is not in the
/// sum; its stale_seconds is +Inf. So neither reads as a drop in lag.
///
/// Each sample asks librdkafka for the assignment, the committed offsets
/// and the high watermarks (two broker round trips, batched over all
/// partitions), so it runs on its own thread (start()) or wherever the
/// caller likes (sample()), never on the consumer's poll thread. It follows
/// rebalances: revoked partitions' series disappear, new ones appear.
///
/// One probe per consumer group per Registry: the lag sums and the group
/// status describe this consumer's assignment.
///
/// Thread-safety: all members may be called from any thread. Stop or destroy
/// the probe before closing the consumer.
///
///     vigil::kafka::ConsumerLagProbe probe(consumer, registry);
///     probe.start();
///     health.set("kafka-lag", vigil::http::CheckResult::from(
///                                 probe.health(), "consumer lag is growing"));
class ConsumerLagProbe {
 public:
  /// `consumer` is a rd_kafka_t of type RD_KAFKA_CONSUMER.
  ConsumerLagProbe(rd_kafka_t* consumer, Registry& registry,
                   ConsumerLagOptions options = {})
      : rk_(consumer),
        options_(std::move(options)),
        group_(options_.group.empty() ? group_id(consumer) : options_.group),
        lag_(registry.gauge("kafka_consumergroup_lag",
                            "Messages the consumer group has yet to consume "
                            "(high watermark - committed offset); -1 when "
                            "nothing is committed.",
                            {"group", "topic", "partition"})),
        lag_seconds_(registry.gauge(
            "kafka_consumergroup_lag_seconds",
            "Estimated age of the oldest unconsumed message; -1 when unknown.",
            {"group", "topic", "partition"}, FamilyOptions{"seconds", 0})),
        current_offset_(
            registry.gauge("kafka_consumergroup_current_offset",
                           "Committed offset of the consumer group.",
                           {"group", "topic", "partition"})),
        position_(registry.gauge("kafka_consumergroup_position",
                                 "Fetch position of this consumer.",
                                 {"group", "topic", "partition"})),
        latest_offset_(registry.gauge("kafka_partition_latest_offset",
                                      "High watermark of the partition.",
                                      {"topic", "partition"})),
        lag_sum_(registry.gauge("kafka_consumergroup_lag_sum",
                                "Lag summed over the assigned partitions of "
                                "a topic, each at its last known value.",
                                {"group", "topic"})),
        stale_(registry.gauge(
            "kafka_consumergroup_lag_stale_seconds",
            "Seconds since the partition's lag was last measured; +Inf "
            "when never.",
            {"group", "topic", "partition"}, FamilyOptions{"seconds", 0})),
        partition_status_(registry.gauge(
            "kafka_consumergroup_partition_status",
            "Burrow-style evaluation: 0 ok, 1 warn, 2 stall, 3 stop, "
            "4 rewind.",
            {"group", "topic", "partition"})),
        status_(registry.gauge(
            "kafka_consumergroup_status",
            "1 for the worst partition status of the group, 0 for the "
            "others.",
            {"group", "status"})),
        failures_(registry
                      .counter("vigil_kafka_lag_probe_failures_total",
                               "Lag samples in which librdkafka could not "
                               "answer for some assigned partition.",
                               {"group"})
                      .with({group_})) {
    if (rk_ == nullptr || rd_kafka_type(rk_) != RD_KAFKA_CONSUMER) {
      throw std::invalid_argument("vigil: ConsumerLagProbe needs a consumer");
    }
    set_group_status(LagStatus::kOk);
  }

  /// The C++ API's consumer.
  ConsumerLagProbe(RdKafka::KafkaConsumer* consumer, Registry& registry,
                   ConsumerLagOptions options = {})
      : ConsumerLagProbe(consumer != nullptr ? consumer->c_ptr() : nullptr,
                         registry, std::move(options)) {}

  ConsumerLagProbe(const ConsumerLagProbe&) = delete;
  ConsumerLagProbe& operator=(const ConsumerLagProbe&) = delete;
  ~ConsumerLagProbe() { stop(); }

  /// Samples every options.interval on a thread of its own.
  void start() { sampler_.start(); }

  /// Stops the thread start() started; a sample in progress finishes first.
  /// start() and stop() may race from any threads.
  void stop() { sampler_.stop(); }

  /// Takes one sample now, on the calling thread. Returns false, counting a
  /// failure, when librdkafka could not answer for some assigned partition
  /// within query_timeout; those partitions keep their last known values
  /// (see the class comment).
  bool sample() {
    std::lock_guard<std::mutex> sampling(sample_mutex_);
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failures_.inc();
      publish({}, nullptr);
      return false;
    }
    const ListPtr assigned(raw);
    std::vector<PartitionLag> measured;
    const bool complete = measure(*assigned, measured);
    publish(std::move(measured), assigned.get());
    if (!complete) failures_.inc();
    return complete;
  }

  /// The partitions assigned at the last sample, measured or not.
  std::vector<PartitionLag> partitions() const {
    std::lock_guard<std::mutex> lock(state_mutex_);
    std::vector<PartitionLag> out;
    out.reserve(partitions_.size());
    for (const auto& entry : partitions_) out.push_back(entry.second.last);
    return out;
  }

  /// The worst partition status of the last sample (OK with none).
  LagStatus status() const {
    std::lock_guard<std::mutex> lock(state_mutex_);
    return worst_;
  }
  /// status() as Burrow's group status: ERR for stall, stop and rewind.
  GroupLagStatus group_status() const {
    return vigil::kafka::group_status(status());
  }
  /// status() as a health verdict: ERR fails, WARN warns (see
  /// health_verdict()).
  HealthVerdict health() const { return health_verdict(status()); }
  /// The `group` label: ConsumerLagOptions::group, or else the consumer's
  /// group.id.
  const std::string& group() const noexcept { return group_; }

 private:
  struct ListDeleter {
    void operator()(rd_kafka_topic_partition_list_t* list) const {
      rd_kafka_topic_partition_list_destroy(list);
    }
  };
  using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
  using Key = std::pair<std::string, std::int32_t>;

  struct PartitionState {
    PartitionState(std::size_t points, LagEvaluatorOptions evaluator)
        : table(points), evaluator(evaluator) {}
    OffsetTimeTable table;
    LagEvaluator evaluator;
    PartitionLag last;
    bool measured = false;  // some sample measured it, the last at measured_at
    std::chrono::steady_clock::time_point measured_at{};
  };

  static std::string group_id(rd_kafka_t* rk) {
    if (rk == nullptr) return {};
    char buffer[512];
    std::size_t size = sizeof buffer;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "group.id", buffer, &size) !=
        RD_KAFKA_CONF_OK) {
      return {};
    }
    return buffer;
  }

  std::chrono::steady_clock::time_point now() const {
    return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
  }

  static const rd_kafka_topic_partition_t* find(
      const rd_kafka_topic_partition_list_t* list,
      const rd_kafka_topic_partition_t& tp) {
    return list == nullptr ? nullptr
                           : rd_kafka_topic_partition_list_find(list, tp.topic,
                                                                tp.partition);
  }

  // Appends to `measured` each assigned partition librdkafka answered for,
  // looked up by name (offsets_for_times sorts its list); false when some
  // partition got no answer.
  bool measure(const rd_kafka_topic_partition_list_t& assigned,
               std::vector<PartitionLag>& measured) {
    if (assigned.cnt == 0) return true;
    const int timeout = static_cast<int>(options_.query_timeout.count());
    ListPtr committed(rd_kafka_topic_partition_list_copy(&assigned));
    ListPtr position(rd_kafka_topic_partition_list_copy(&assigned));
    ListPtr latest(rd_kafka_topic_partition_list_copy(&assigned));
    for (int i = 0; i < latest->cnt; ++i) {
      latest->elems[i].offset = RD_KAFKA_OFFSET_END;  // "latest" to ListOffsets
    }
    if (rd_kafka_committed(rk_, committed.get(), timeout) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      committed.reset();
    }
    if (rd_kafka_position(rk_, position.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      position.reset();
    }
    if (rd_kafka_offsets_for_times(rk_, latest.get(), timeout) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      latest.reset();
    }
    for (int i = 0; i < assigned.cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = assigned.elems[i];
      const auto* l = find(latest.get(), tp);
      const auto* c = find(committed.get(), tp);
      if (l == nullptr || l->err != RD_KAFKA_RESP_ERR_NO_ERROR ||
          l->offset < 0 || c == nullptr ||
          c->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        continue;  // no leader right now, or no answer in time
      }
      const auto* pos = find(position.get(), tp);
      PartitionLag p;
      p.topic = tp.topic;
      p.partition = tp.partition;
      p.latest_offset = l->offset;
      p.committed_offset = c->offset >= 0 ? c->offset : -1;
      p.position = pos != nullptr && pos->offset >= 0 ? pos->offset : -1;
      p.lag = c->offset >= 0
                  ? std::max<std::int64_t>(0, p.latest_offset - c->offset)
                  : -1;
      measured.push_back(std::move(p));
    }
    return static_cast<int>(measured.size()) == assigned.cnt;
  }

  // `assigned` null: the assignment is unknown this time; keep all.
  void publish(std::vector<PartitionLag> measured,
               const rd_kafka_topic_partition_list_t* assigned) {
    const auto at = now();
    std::lock_guard<std::mutex> lock(state_mutex_);
    std::set<Key> still;
    if (assigned == nullptr) {
      for (const auto& entry : partitions_) still.insert(entry.first);
    } else {
      for (int i = 0; i < assigned->cnt; ++i) {
        still.insert({assigned->elems[i].topic, assigned->elems[i].partition});
      }
    }
    // Partitions no longer assigned lose their series.
    for (auto it = partitions_.begin(); it != partitions_.end();) {
      if (still.count(it->first) != 0) {
        ++it;
        continue;
      }
      const std::string partition = std::to_string(it->first.second);
      const std::vector<std::string_view> labels{group_, it->first.first,
                                                 partition};
      for (GaugeFamily* family : {&lag_, &lag_seconds_, &current_offset_,
                                  &position_, &partition_status_, &stale_}) {
        family->remove(labels);
      }
      latest_offset_.remove({it->first.first, partition});
      it = partitions_.erase(it);
    }
    for (const Key& key : still) {
      if (partitions_.count(key) != 0) continue;
      PartitionState& state =
          partitions_
              .emplace(key, PartitionState(options_.time_lag_points,
                                           options_.evaluator))
              .first->second;
      state.last.topic = key.first;
      state.last.partition = key.second;
    }
    for (auto& p : measured) {
      PartitionState& state = partitions_.at({p.topic, p.partition});
      state.table.add(p.latest_offset, at);
      state.evaluator.add(p.committed_offset, p.lag, at);
      if (p.committed_offset >= 0) {
        p.lag_seconds =
            state.table.lag_seconds(p.committed_offset, at).value_or(-1);
      }
      p.status = state.evaluator.status(at);
      state.last = std::move(p);
      state.measured = true;
      state.measured_at = at;

      const PartitionLag& last = state.last;
      const std::string partition = std::to_string(last.partition);
      const std::vector<std::string_view> labels{group_, last.topic, partition};
      lag_.with(labels).set(static_cast<double>(last.lag));
      lag_seconds_.with(labels).set(last.lag_seconds);
      current_offset_.with(labels).set(
          static_cast<double>(last.committed_offset));
      position_.with(labels).set(static_cast<double>(last.position));
      partition_status_.with(labels).set(static_cast<double>(last.status));
      latest_offset_.with({last.topic, partition})
          .set(static_cast<double>(last.latest_offset));
    }
    // Unmeasured partitions keep their last values and status (no new
    // data to judge by) and count in the sum at them.
    std::map<std::string, double> sums;
    LagStatus worst = LagStatus::kOk;
    for (auto& [key, state] : partitions_) {
      state.last.stale_seconds =
          state.measured
              ? std::chrono::duration<double>(at - state.measured_at).count()
              : std::numeric_limits<double>::infinity();
      const std::string partition = std::to_string(key.second);
      stale_.with({group_, key.first, partition}).set(state.last.stale_seconds);
      if (state.measured) {
        sums[key.first] +=
            static_cast<double>(std::max<std::int64_t>(0, state.last.lag));
      }
      worst = std::max(worst, state.last.status);
    }
    for (const auto& topic : topics_) {
      if (sums.count(topic) == 0) lag_sum_.remove({group_, topic});
    }
    topics_.clear();
    for (const auto& [topic, sum] : sums) {
      lag_sum_.with({group_, topic}).set(sum);
      topics_.insert(topic);
    }
    set_group_status(worst);
    worst_ = worst;
  }

  void set_group_status(LagStatus worst) {
    for (std::size_t s = 0; s < kLagStatusCount; ++s) {
      const auto status = static_cast<LagStatus>(s);
      status_.with({group_, to_string(status)}).set(status == worst ? 1 : 0);
    }
  }

  rd_kafka_t* const rk_;
  const ConsumerLagOptions options_;
  const std::string group_;
  GaugeFamily& lag_;
  GaugeFamily& lag_seconds_;
  GaugeFamily& current_offset_;
  GaugeFamily& position_;
  GaugeFamily& latest_offset_;
  GaugeFamily& lag_sum_;
  GaugeFamily& stale_;
  GaugeFamily& partition_status_;
  GaugeFamily& status_;
  Counter failures_;

  std::mutex sample_mutex_;         // one sample at a time
  mutable std::mutex state_mutex_;  // guards the members below
  std::map<Key, PartitionState> partitions_;
  std::set<std::string> topics_;
  LagStatus worst_ = LagStatus::kOk;

  // Last: its thread, which uses all of the above, ends before they do.
  detail::PeriodicThread sampler_{options_.interval, [this] { sample(); }};
};

}  // namespace kafka
VIGIL_NAMESPACE_END
