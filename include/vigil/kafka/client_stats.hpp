#pragma once

#include <initializer_list>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/counter.hpp"
#include "vigil/family.hpp"
#include "vigil/gauge.hpp"
#include "vigil/kafka/json.hpp"
#include "vigil/registry.hpp"
#include "vigil/version.hpp"

VIGIL_NAMESPACE_BEGIN
namespace kafka {

/// Exports the part of librdkafka's statistics that operators act on, from
/// the JSON librdkafka hands to its statistics callback
/// (`statistics.interval.ms`):
///
///     kafka_client_replyq{client}            ops waiting for poll()
///     kafka_client_queue_messages{client}    producer queue
///     kafka_client_assigned_partitions{client}
///     kafka_client_rebalances_total{client}
///     kafka_client_broker_rtt_avg_seconds{client,broker}
///     kafka_client_broker_rtt_p99_seconds{client,broker}
///     kafka_client_broker_outbuf_requests{client,broker}    not yet sent
///     kafka_client_broker_waitresp_requests{client,broker}  awaiting reply
///
/// `client` is librdkafka's instance name (client.id plus a serial), so two
/// clients in one process do not collide. Brokers that disappear from the
/// statistics lose their series; librdkafka's logical brokers (bootstrap,
/// coordinator; node id -1) are skipped since they duplicate real ones.
///
/// Thread-safety: update() may be called from any thread, including several
/// clients' callbacks at once.
///
///     vigil::kafka::ClientStats stats(registry);
///     rd_kafka_conf_set("statistics.interval.ms", "15000", ...);
///     rd_kafka_conf_set_opaque(conf, &stats);
///     rd_kafka_conf_set_stats_cb(conf, [](rd_kafka_t*, char* json, size_t len,
///                                         void* opaque) {
///       static_cast<vigil::kafka::ClientStats*>(opaque)->update({json, len});
///       return 0;  // librdkafka frees json
///     });
class ClientStats {
 public:
  /// Registers the families in `registry`, which must outlive this object.
  explicit ClientStats(Registry& registry)
      : replyq_(registry.gauge(
            "kafka_client_replyq",
            "librdkafka operations waiting in the application queue; growth "
            "means poll() is not keeping up.",
            {"client"})),
        queue_messages_(registry.gauge(
            "kafka_client_queue_messages",
            "Messages in librdkafka's producer queue.", {"client"})),
        assigned_(registry.gauge("kafka_client_assigned_partitions",
                                 "Partitions assigned to this consumer.",
                                 {"client"})),
        rebalances_(registry.counter(
            "kafka_client_rebalances_total",
            "Consumer group rebalances this client went through.", {"client"})),
        rtt_avg_(registry.gauge(
            "kafka_client_broker_rtt_avg_seconds",
            "Average request round-trip time to each broker over the last "
            "statistics interval.",
            {"client", "broker"}, FamilyOptions{"seconds", 0})),
        rtt_p99_(registry.gauge(
            "kafka_client_broker_rtt_p99_seconds",
            "99th percentile request round-trip time to each broker over the "
            "last statistics interval.",
            {"client", "broker"}, FamilyOptions{"seconds", 0})),
        outbuf_(registry.gauge("kafka_client_broker_outbuf_requests",
                               "Requests waiting to be sent to each broker.",
                               {"client", "broker"})),
        waitresp_(registry.gauge(
            "kafka_client_broker_waitresp_requests",
            "Requests sent to each broker and awaiting a response.",
            {"client", "broker"})),
        failures_(registry
                      .counter("vigil_kafka_stats_parse_failures_total",
                               "librdkafka statistics documents that were "
                               "not valid JSON.")
                      .with({})) {}

  /// Reads one statistics document. Returns false (and counts it) when it
  /// is not JSON; missing fields are simply not exported.
  bool update(std::string_view json) {
    const auto doc = parse_json(json);
    if (!doc || !doc->is_object()) {
      failures_.inc();
      return false;
    }
    const JsonValue* name = doc->find("name");
    if (name == nullptr || !name->is_string() || name->string().empty()) {
      failures_.inc();
      return false;
    }
    const std::string& client = name->string();
    std::lock_guard<std::mutex> lock(mutex_);
    set_if_number(replyq_, {client}, doc->find("replyq"));
    set_if_number(queue_messages_, {client}, doc->find("msg_cnt"));
    if (const JsonValue* cgrp = doc->find("cgrp")) {
      set_if_number(assigned_, {client}, cgrp->find("assignment_size"));
      if (const JsonValue* count = cgrp->find("rebalance_cnt");
          count != nullptr && count->is_number()) {
        // librdkafka's count is cumulative per client; add what is new, and
        // all of it if the client restarted the count.
        double& last = rebalances_seen_[client];
        const double now = count->number();
        rebalances_.with({client}).inc(now >= last ? now - last : now);
        last = now;
      }
    }
    std::set<std::string>& known = brokers_[client];
    std::set<std::string> present;
    if (const JsonValue* brokers = doc->find("brokers");
        brokers != nullptr && brokers->is_object()) {
      for (const auto& member : brokers->members()) {
        const JsonValue& b = member.value;
        if (!b.is_object() || b.number_at("nodeid", -1) < 0) continue;
        present.insert(member.key);
        const std::vector<std::string_view> labels{client, member.key};
        if (const JsonValue* rtt = b.find("rtt")) {
          // librdkafka reports microseconds.
          if (const JsonValue* avg = rtt->find("avg");
              avg && avg->is_number()) {
            rtt_avg_.with(labels).set(avg->number() / 1e6);
          }
          if (const JsonValue* p99 = rtt->find("p99");
              p99 && p99->is_number()) {
            rtt_p99_.with(labels).set(p99->number() / 1e6);
          }
        }
        if (const JsonValue* v = b.find("outbuf_cnt"); v && v->is_number()) {
          outbuf_.with(labels).set(v->number());
        }
        if (const JsonValue* v = b.find("waitresp_cnt"); v && v->is_number()) {
          waitresp_.with(labels).set(v->number());
        }
      }
    }
    for (const auto& gone : known) {
      if (present.count(gone) != 0) continue;
      const std::vector<std::string_view> labels{client, gone};
      for (GaugeFamily* family : {&rtt_avg_, &rtt_p99_, &outbuf_, &waitresp_}) {
        family->remove(labels);
      }
    }
    known = std::move(present);
    return true;
  }

 private:
  static void set_if_number(GaugeFamily& family,
                            std::initializer_list<std::string_view> labels,
                            const JsonValue* value) {
    if (value != nullptr && value->is_number()) {
      family.with(labels).set(value->number());
    }
  }

  GaugeFamily& replyq_;
  GaugeFamily& queue_messages_;
  GaugeFamily& assigned_;
  CounterFamily& rebalances_;
  GaugeFamily& rtt_avg_;
  GaugeFamily& rtt_p99_;
  GaugeFamily& outbuf_;
  GaugeFamily& waitresp_;
  Counter failures_;
  std::mutex mutex_;
  std::map<std::string, double> rebalances_seen_;         // by client
  std::map<std::string, std::set<std::string>> brokers_;  // by client
};

}  // namespace kafka
VIGIL_NAMESPACE_END
