// The lag probe against librdkafka's built-in mock cluster (rdkafka_mock.h),
// inside this process on 127.0.0.1: real produce, consume, commit and group
// rebalances, no external broker. The probe's clock is a ManualClock so the
// evaluator's time-based rules and the time lag are exact.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "start_stop_race.hpp"
#include "vigil/kafka/consumer_lag.hpp"
#include "vigil/manual_clock.hpp"
#include "vigil/registry.hpp"

namespace {

using std::chrono::seconds;
using vigil::kafka::LagStatus;

constexpr const char* kTopic = "orders";
// Produced and committed per partition: lags of 20 and 15.
constexpr std::int64_t kProduced[] = {30, 20};
constexpr std::int64_t kCommitted[] = {10, 5};

struct Destroy {
  void operator()(rd_kafka_t* rk) const {
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER) rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
using Client = std::unique_ptr<rd_kafka_t, Destroy>;

void set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char error[512];
  ASSERT_EQ(rd_kafka_conf_set(conf, key, value.c_str(), error, sizeof error),
            RD_KAFKA_CONF_OK)
      << key << ": " << error;
}

Client make_client(rd_kafka_type_t type,
                   const std::map<std::string, std::string>& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : settings) set(conf, key.c_str(), value);
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, error, sizeof error);
  EXPECT_NE(rk, nullptr) << error;
  return Client(rk);
}

using Deadline = std::chrono::steady_clock::time_point;
Deadline deadline_in(seconds s) { return std::chrono::steady_clock::now() + s; }
bool before(Deadline d) { return std::chrono::steady_clock::now() < d; }

int assigned_count(rd_kafka_t* rk) {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
  const int n = list->cnt;
  rd_kafka_topic_partition_list_destroy(list);
  return n;
}

class MockClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Owns the mock cluster and talks to no broker: silence its notice
    // about having no bootstrap.servers.
    cluster_owner_ = make_client(RD_KAFKA_PRODUCER, {{"log_level", "4"}});
    cluster_ = rd_kafka_mock_cluster_new(cluster_owner_.get(), 1);
    ASSERT_NE(cluster_, nullptr);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    ASSERT_EQ(bootstraps_.rfind("127.", 0), 0u) << bootstraps_;
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, kTopic, 2, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    Client producer =
        make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstraps_}});
    for (std::int32_t p = 0; p < 2; ++p) {
      for (std::int64_t i = 0; i < kProduced[p]; ++i) {
        const std::string value = "m" + std::to_string(i);
        ASSERT_EQ(
            rd_kafka_producev(
                producer.get(), RD_KAFKA_V_TOPIC(kTopic),
                RD_KAFKA_V_PARTITION(p),
                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
      }
    }
    ASSERT_EQ(rd_kafka_flush(producer.get(), 30000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  void TearDown() override {
    if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
    cluster_owner_.reset();
  }

  Client make_consumer(const std::string& group) {
    Client consumer =
        make_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstraps_},
                                        {"group.id", group},
                                        {"enable.auto.commit", "false"},
                                        {"auto.offset.reset", "earliest"},
                                        {"heartbeat.interval.ms", "200"},
                                        {"session.timeout.ms", "6000"}});
    rd_kafka_poll_set_consumer(consumer.get());
    return consumer;
  }

  static void subscribe(rd_kafka_t* consumer) {
    rd_kafka_topic_partition_list_t* topics =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, kTopic, RD_KAFKA_PARTITION_UA);
    ASSERT_EQ(rd_kafka_subscribe(consumer, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);
  }

  static void poll_once(rd_kafka_t* consumer,
                        std::map<int, std::int64_t>* seen) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 50);
    if (message == nullptr) return;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR && seen != nullptr) {
      auto& next = (*seen)[message->partition];
      next = std::max(next, message->offset + 1);
    }
    rd_kafka_message_destroy(message);
  }

  Client cluster_owner_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
};

double value(vigil::Registry& registry, const char* name,
             std::vector<std::string> label_names,
             std::vector<std::string> values) {
  return registry.gauge(name, "", std::move(label_names)).with(values).value();
}
double lag(vigil::Registry& registry, const std::string& group, int partition) {
  return value(registry, "kafka_consumergroup_lag",
               {"group", "topic", "partition"},
               {group, kTopic, std::to_string(partition)});
}
std::string series(const std::string& group, int partition) {
  return "kafka_consumergroup_lag{group=\"" + group + "\",topic=\"orders\"," +
         "partition=\"" + std::to_string(partition) + "\"}";
}

// The value of `series` (name{labels}) in a scrape; nullopt when absent.
// Reading through the registry instead would create the series.
std::optional<double> scraped(vigil::Registry& registry,
                              const std::string& series) {
  const std::string body = registry.scrape();
  const std::size_t at = body.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(body.c_str() + at + series.size() + 2, nullptr);
}
std::string labelled(const char* name, const std::string& group,
                     const std::string& topic, int partition = -1) {
  std::string s =
      std::string(name) + "{group=\"" + group + "\",topic=\"" + topic + "\"";
  if (partition >= 0) {
    s += ",partition=\"" + std::to_string(partition) + "\"";
  }
  return s + "}";
}

TEST_F(MockClusterTest, LagStopAndRebalance) {
  Client first = make_consumer("g1");
  subscribe(first.get());
  // Consume at least kCommitted messages of each partition, then commit
  // exactly kCommitted.
  std::map<int, std::int64_t> consumed;
  const Deadline deadline = deadline_in(seconds(60));
  while (!(consumed[0] >= kCommitted[0] && consumed[1] >= kCommitted[1])) {
    ASSERT_TRUE(before(deadline)) << "no messages from the mock cluster";
    poll_once(first.get(), &consumed);
  }
  rd_kafka_topic_partition_list_t* offsets =
      rd_kafka_topic_partition_list_new(2);
  for (int p = 0; p < 2; ++p) {
    rd_kafka_topic_partition_list_add(offsets, kTopic, p)->offset =
        kCommitted[p];
  }
  ASSERT_EQ(rd_kafka_commit(first.get(), offsets, 0),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(offsets);

  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::kafka::ConsumerLagOptions options;
  options.clock = clock.source();
  options.evaluator.window = 3;
  options.evaluator.stop_after = seconds(15);
  auto probe = std::make_unique<vigil::kafka::ConsumerLagProbe>(
      first.get(), registry, options);
  EXPECT_EQ(probe->group(), "g1");  // read from the consumer's group.id

  ASSERT_TRUE(probe->sample());
  for (int p = 0; p < 2; ++p) {
    SCOPED_TRACE("partition " + std::to_string(p));
    EXPECT_EQ(lag(registry, "g1", p), kProduced[p] - kCommitted[p]);
    EXPECT_EQ(value(registry, "kafka_consumergroup_current_offset",
                    {"group", "topic", "partition"},
                    {"g1", kTopic, std::to_string(p)}),
              kCommitted[p]);
    EXPECT_EQ(value(registry, "kafka_partition_latest_offset",
                    {"topic", "partition"}, {kTopic, std::to_string(p)}),
              kProduced[p]);
  }
  EXPECT_EQ(value(registry, "kafka_consumergroup_lag_sum", {"group", "topic"},
                  {"g1", kTopic}),
            35);
  const auto partitions = probe->partitions();
  ASSERT_EQ(partitions.size(), 2u);
  for (const auto& p : partitions) {
    EXPECT_GE(p.position, p.committed_offset);  // it consumed past the commit
  }
  EXPECT_EQ(probe->status(), LagStatus::kOk);  // too early to judge

  // The consumer stops committing: once messages have waited longer than
  // stop_after without a commit it is stopped, and the oldest waiting
  // message is as old as the probe's observations.
  for (int i = 0; i < 2; ++i) {
    clock.advance(seconds(10));
    ASSERT_TRUE(probe->sample());
  }
  EXPECT_EQ(probe->status(), LagStatus::kStop);
  EXPECT_EQ(probe->group_status(), vigil::kafka::GroupLagStatus::kErr);
  EXPECT_EQ(probe->health(), vigil::HealthVerdict::kFail);
  EXPECT_EQ(value(registry, "kafka_consumergroup_status", {"group", "status"},
                  {"g1", "stop"}),
            1);
  EXPECT_EQ(value(registry, "kafka_consumergroup_status", {"group", "status"},
                  {"g1", "ok"}),
            0);
  EXPECT_EQ(registry
                .gauge("kafka_consumergroup_lag_seconds", "",
                       {"group", "topic", "partition"}, {"seconds", 0})
                .with({"g1", kTopic, "0"})
                .value(),
            20);

  // A second member joins: each gets one partition, and the first probe's
  // series follow.
  Client second = make_consumer("g1");
  subscribe(second.get());
  const Deadline rebalance = deadline_in(seconds(60));
  while (!(assigned_count(first.get()) == 1 &&
           assigned_count(second.get()) == 1)) {
    ASSERT_TRUE(before(rebalance)) << "the group did not rebalance";
    poll_once(first.get(), nullptr);
    poll_once(second.get(), nullptr);
  }
  ASSERT_TRUE(probe->sample());
  ASSERT_EQ(probe->partitions().size(), 1u);
  const int kept = probe->partitions()[0].partition;
  const int moved = 1 - kept;
  const std::string body = registry.scrape();
  EXPECT_NE(body.find(series("g1", kept)), std::string::npos) << body;
  EXPECT_EQ(body.find(series("g1", moved)), std::string::npos) << body;
  EXPECT_EQ(
      body.find("kafka_partition_latest_offset{topic=\"orders\",partition=\"" +
                std::to_string(moved) + "\"}"),
      std::string::npos);
  EXPECT_EQ(value(registry, "kafka_consumergroup_lag_sum", {"group", "topic"},
                  {"g1", kTopic}),
            kProduced[kept] - kCommitted[kept]);

  vigil::Registry second_registry;
  vigil::kafka::ConsumerLagProbe second_probe(second.get(), second_registry,
                                              options);
  ASSERT_TRUE(second_probe.sample());
  EXPECT_EQ(lag(second_registry, "g1", moved),
            kProduced[moved] - kCommitted[moved]);
  EXPECT_EQ(second_registry.scrape().find(series("g1", kept)),
            std::string::npos);
  probe.reset();  // before its consumer closes
}

// start() and stop() from different threads: every stop() must return
// (the old lifecycle let a start() revive the thread a stop() was joining).
TEST_F(MockClusterTest, StartAndStopRaceWithoutHanging) {
  Client consumer = make_consumer("g-race");
  vigil::Registry registry;
  vigil::kafka::ConsumerLagOptions options;
  options.interval = std::chrono::milliseconds(1);
  vigil::kafka::ConsumerLagProbe probe(consumer.get(), registry, options);
  vigil_test::race_start_stop(probe, 2000, seconds(60));
}

// During a leader election the brokers cannot say where a partition ends.
// Its last known lag stands, in the sum too, and its staleness grows:
// neither the sum falling nor a topic's sum vanishing (all its partitions
// unanswered) may read as a recovery. A partition never measured shows as
// infinitely stale, with no lag.
TEST_F(MockClusterTest, UnansweredPartitionsKeepTheirLagAndGrowStale) {
  ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, "audit", 1, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, "ledger", 1, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster_, "ledger", 0, -1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  Client consumer = make_consumer("g3");
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(4);
  rd_kafka_topic_partition_list_add(list, kTopic, 0)->offset = kCommitted[0];
  rd_kafka_topic_partition_list_add(list, kTopic, 1)->offset = kCommitted[1];
  rd_kafka_topic_partition_list_add(list, "audit", 0)->offset = 0;
  ASSERT_EQ(rd_kafka_commit(consumer.get(), list, 0),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_add(list, "ledger", 0);
  ASSERT_EQ(rd_kafka_assign(consumer.get(), list), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(list);

  vigil::ManualClock clock;
  vigil::Registry registry;
  vigil::kafka::ConsumerLagOptions options;
  options.clock = clock.source();
  options.query_timeout = std::chrono::milliseconds(1000);
  vigil::kafka::ConsumerLagProbe probe(consumer.get(), registry, options);
  const auto stale = [&](const std::string& topic, int partition) {
    return scraped(registry, labelled("kafka_consumergroup_lag_stale_seconds",
                                      "g3", topic, partition));
  };
  const auto sum = [&](const std::string& topic) {
    return scraped(registry,
                   labelled("kafka_consumergroup_lag_sum", "g3", topic));
  };
  const auto fresh = [&](const std::string& topic, int partition) {
    return stale(topic, partition) == 0.0;
  };

  // Everything but the leaderless ledger gets measured.
  const Deadline measured = deadline_in(seconds(60));
  do {
    ASSERT_TRUE(before(measured)) << "the mock cluster never answered";
    EXPECT_FALSE(probe.sample());  // ledger has no answer
  } while (!(fresh(kTopic, 0) && fresh(kTopic, 1) && fresh("audit", 0)));
  EXPECT_EQ(sum(kTopic), 35);
  EXPECT_EQ(sum("audit"), 0);
  EXPECT_EQ(stale("ledger", 0), std::numeric_limits<double>::infinity());
  EXPECT_FALSE(sum("ledger"));
  EXPECT_FALSE(scraped(registry,
                       labelled("kafka_consumergroup_lag", "g3", "ledger", 0)));
  EXPECT_GE(
      scraped(registry, "vigil_kafka_lag_probe_failures_total{group=\"g3\"}"),
      1);

  // orders/1 and all of audit lose their leader. Until a sample answers for
  // orders/0 again (the first ones fail as a whole while librdkafka
  // refreshes its metadata), every sample keeps the sums and ages the
  // unanswered partitions by the 10 s that passed.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster_, kTopic, 1, -1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster_, "audit", 0, -1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  const Deadline election = deadline_in(seconds(60));
  int rounds = 0;
  do {
    ASSERT_TRUE(before(election)) << "orders/0 was never answered again";
    clock.advance(seconds(10));
    ++rounds;
    EXPECT_FALSE(probe.sample());
    SCOPED_TRACE("round " + std::to_string(rounds));
    ASSERT_EQ(sum(kTopic), 35);
    ASSERT_EQ(sum("audit"), 0);
    ASSERT_EQ(stale(kTopic, 1), 10.0 * rounds);
    ASSERT_EQ(stale("audit", 0), 10.0 * rounds);
    ASSERT_EQ(
        scraped(registry, labelled("kafka_consumergroup_lag", "g3", kTopic, 1)),
        kProduced[1] - kCommitted[1]);
  } while (!fresh(kTopic, 0));

  // The leaders are back: fresh again.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster_, kTopic, 1, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster_, "audit", 0, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  const Deadline recovery = deadline_in(seconds(60));
  do {
    ASSERT_TRUE(before(recovery)) << "the partitions never recovered";
    clock.advance(seconds(10));
    probe.sample();
  } while (!(fresh(kTopic, 1) && fresh("audit", 0)));
  EXPECT_EQ(sum(kTopic), 35);
}

TEST_F(MockClusterTest, CppConsumerWithoutCommitsHasUnknownLag) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(
      RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  ASSERT_EQ(conf->set("bootstrap.servers", bootstraps_, error),
            RdKafka::Conf::CONF_OK);
  ASSERT_EQ(conf->set("group.id", "g2", error), RdKafka::Conf::CONF_OK);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  ASSERT_TRUE(consumer) << error;
  std::vector<RdKafka::TopicPartition*> assignment{
      RdKafka::TopicPartition::create(kTopic, 0),
      RdKafka::TopicPartition::create(kTopic, 1)};
  ASSERT_EQ(consumer->assign(assignment), RdKafka::ERR_NO_ERROR);

  vigil::Registry registry;
  vigil::kafka::ConsumerLagOptions options;
  options.group = "payments";  // overrides group.id in the labels
  options.interval = std::chrono::milliseconds(20);
  {
    vigil::kafka::ConsumerLagProbe probe(consumer.get(), registry, options);
    ASSERT_TRUE(probe.sample());
    EXPECT_EQ(probe.partitions().size(), 2u);
    EXPECT_EQ(lag(registry, "payments", 0), -1);  // nothing committed
    EXPECT_EQ(probe.status(), LagStatus::kOk);

    // Commit partition 1 only: its lag becomes known.
    assignment[1]->set_offset(4);
    std::vector<RdKafka::TopicPartition*> commit{assignment[1]};
    ASSERT_EQ(consumer->commitSync(commit), RdKafka::ERR_NO_ERROR);
    ASSERT_TRUE(probe.sample());
    EXPECT_EQ(lag(registry, "payments", 1), kProduced[1] - 4);
    EXPECT_EQ(lag(registry, "payments", 0), -1);

    // Started, the probe samples on its own thread and sees the next commit
    // without being asked.
    probe.start();
    assignment[0]->set_offset(2);
    commit = {assignment[0]};
    ASSERT_EQ(consumer->commitSync(commit), RdKafka::ERR_NO_ERROR);
    const Deadline deadline = deadline_in(seconds(30));
    while (lag(registry, "payments", 0) != kProduced[0] - 2) {
      ASSERT_TRUE(before(deadline)) << "the probe's thread never sampled";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    probe.stop();
  }
  RdKafka::TopicPartition::destroy(assignment);
  consumer->close();
}

}  // namespace
