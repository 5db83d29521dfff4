// librdkafka statistics in, operator metrics out: units, the rebalance
// counter's deltas, broker series that come and go, and garbage refused.
#include "vigil/kafka/client_stats.hpp"

#include <gtest/gtest.h>

#include <string>

#include "vigil/registry.hpp"

namespace {

// Trimmed from a real librdkafka 2.0 consumer's statistics.
std::string stats(int rebalances, bool with_second_broker) {
  std::string doc = R"({"name": "svc#consumer-1", "client_id": "svc",
    "type": "consumer", "ts": 1, "replyq": 3, "msg_cnt": 0,
    "brokers": {
      "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": -1,
                           "rtt": {"avg": 9, "p99": 9}},
      "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1,
        "outbuf_cnt": 2, "waitresp_cnt": 1,
        "rtt": {"min": 100, "max": 9000, "avg": 1500, "p99": 8000}})";
  if (with_second_broker) {
    doc += R"(, "127.0.0.1:9093/2": {"name": "127.0.0.1:9093/2", "nodeid": 2,
        "outbuf_cnt": 0, "waitresp_cnt": 0, "rtt": {"avg": 250, "p99": 500}})";
  }
  doc += R"(}, "cgrp": {"state": "up", "rebalance_cnt": )" +
         std::to_string(rebalances) + R"(, "assignment_size": 4}})";
  return doc;
}

double gauge(vigil::Registry& r, const char* name,
             std::vector<std::string> labels, std::vector<std::string> values) {
  return r.gauge(name, "", std::move(labels)).with(values).value();
}

TEST(ClientStats, ExportsWhatOperatorsActOn) {
  vigil::Registry registry;
  vigil::kafka::ClientStats exporter(registry);
  ASSERT_TRUE(exporter.update(stats(2, true)));
  EXPECT_EQ(
      gauge(registry, "kafka_client_replyq", {"client"}, {"svc#consumer-1"}),
      3);
  EXPECT_EQ(gauge(registry, "kafka_client_assigned_partitions", {"client"},
                  {"svc#consumer-1"}),
            4);
  const std::vector<std::string> b1{"svc#consumer-1", "127.0.0.1:9092/1"};
  EXPECT_DOUBLE_EQ(registry
                       .gauge("kafka_client_broker_rtt_avg_seconds", "",
                              {"client", "broker"}, {"seconds", 0})
                       .with(b1)
                       .value(),
                   0.0015);
  EXPECT_DOUBLE_EQ(registry
                       .gauge("kafka_client_broker_rtt_p99_seconds", "",
                              {"client", "broker"}, {"seconds", 0})
                       .with(b1)
                       .value(),
                   0.008);
  EXPECT_EQ(gauge(registry, "kafka_client_broker_outbuf_requests",
                  {"client", "broker"}, b1),
            2);
  EXPECT_EQ(gauge(registry, "kafka_client_broker_waitresp_requests",
                  {"client", "broker"}, b1),
            1);
  const std::string body = registry.scrape();
  EXPECT_EQ(body.find("GroupCoordinator"), std::string::npos) << body;
  EXPECT_NE(
      body.find("kafka_client_rebalances_total{client=\"svc#consumer-1\"} 2"),
      std::string::npos)
      << body;
}

TEST(ClientStats, CountsRebalancesAsDeltasAndDropsVanishedBrokers) {
  vigil::Registry registry;
  vigil::kafka::ClientStats exporter(registry);
  ASSERT_TRUE(exporter.update(stats(2, true)));
  ASSERT_TRUE(exporter.update(stats(5, false)));
  auto& rebalances =
      registry.counter("kafka_client_rebalances_total", "", {"client"});
  EXPECT_EQ(rebalances.with({"svc#consumer-1"}).value(), 5);
  ASSERT_TRUE(exporter.update(stats(1, false)));  // the client was recreated
  EXPECT_EQ(rebalances.with({"svc#consumer-1"}).value(), 6);
  const std::string body = registry.scrape();
  EXPECT_EQ(body.find("9093"), std::string::npos) << body;
  EXPECT_NE(body.find("9092"), std::string::npos);
}

TEST(ClientStats, RefusesDocumentsItCannotRead) {
  vigil::Registry registry;
  vigil::kafka::ClientStats exporter(registry);
  EXPECT_FALSE(exporter.update("{\"name\": \"x\""));
  EXPECT_FALSE(exporter.update("[]"));
  EXPECT_FALSE(exporter.update("{\"replyq\": 1}"));  // whose?
  EXPECT_TRUE(exporter.update(R"({"name": "c", "brokers": [1], "cgrp": 7})"));
  EXPECT_EQ(registry.counter("vigil_kafka_stats_parse_failures_total", "")
                .with({})
                .value(),
            3);
}

}  // namespace
